"""The Keras teacher as a PyTorch module, and a pruned one back to Keras.

`to_torch(model)` builds a `PortedNet` that computes what the Keras model
computes, on NCHW inputs, with the same weights (`peers_convert` holds the
layout maths); `to_keras(net, model)` rebuilds the Keras model at the
widths Torch-Pruning left, weights copied back, so one cost model
(`tfc.profile`) and one runtime (LiteRT) measure both frameworks'
students. Needs torch (the `peers` extra).

```python
net = to_torch(teacher)              # logits == teacher(x) to float error
student = to_keras(pruned_net, teacher)
```
"""

import numpy as np
import peers_convert
import torch
from torch import nn


class _Add(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


def _conv(settings):
    conv = nn.Conv2d(
        settings["in_channels"],
        settings["filters"],
        settings["kernel"],
        stride=settings["strides"],
        bias=settings["use_bias"],
    )
    top, bottom, left, right = settings["pads"]
    layers = []
    if top == bottom and left == right:
        conv.padding = (top, left)
    else:
        layers.append(nn.ZeroPad2d((left, right, top, bottom)))
    layers.append(conv)
    if settings["activation"] == "relu":
        layers.append(nn.ReLU())
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def _dense(settings):
    linear = nn.Linear(
        settings["in_features"], settings["units"], bias=settings["use_bias"]
    )
    if settings["activation"] == "relu":
        return nn.Sequential(linear, nn.ReLU())
    return linear


def _module(step):
    s = step.settings
    if step.kind == "conv":
        return _conv(s)
    if step.kind == "bn":
        return nn.BatchNorm2d(
            s["channels"], eps=s["epsilon"], momentum=1.0 - s["momentum"]
        )
    if step.kind == "dense":
        return _dense(s)
    if step.kind == "maxpool":
        return nn.MaxPool2d(s["pool"], s["strides"])
    if step.kind == "avgpool":
        return nn.AvgPool2d(s["pool"], s["strides"])
    if step.kind == "gap":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if step.kind == "flatten":
        return nn.Flatten()
    if step.kind == "add":
        return _Add()
    if step.kind == "relu":
        return nn.ReLU()
    return nn.Identity()


class PortedNet(nn.Module):
    """A Keras Functional graph run by PyTorch modules (NCHW)."""

    def __init__(self, input_name, steps, output_name):
        super().__init__()
        self.input_name = input_name
        self.output_name = output_name
        self.order = [(s.name, list(s.inputs)) for s in steps]
        self.kinds = {s.name: s.kind for s in steps}
        self.layers = nn.ModuleDict({s.name: _module(s) for s in steps})

    def forward(self, x):
        values = {self.input_name: x}
        for name, inputs in self.order:
            values[name] = self.layers[name](*[values[i] for i in inputs])
        return values[self.output_name]

    def core(self, name):
        """The Conv2d / Linear / BatchNorm2d inside step `name`."""
        module = self.layers[name]
        if isinstance(module, nn.Sequential):
            for inner in module:
                if isinstance(inner, (nn.Conv2d, nn.Linear)):
                    return inner
        return module

    def classifier(self):
        """The Linear layer that produces the output."""
        return self.core(self.output_name)


def to_torch(model):
    """A `PortedNet` with `model`'s graph and weights, in eval mode."""
    input_name, steps, output_name = peers_convert.plan(model)
    net = PortedNet(input_name, steps, output_name)
    state = peers_convert.torch_weights(model)
    with torch.no_grad():
        for name, params in state.items():
            module = net.core(name)
            for key, value in params.items():
                getattr(module, key).copy_(torch.from_numpy(np.asarray(value)))
    return net.eval()


def to_keras(net, model):
    """`net` (a possibly pruned `PortedNet`) as a Keras model like `model`."""
    state = {}
    for name, kind in net.kinds.items():
        if kind not in ("conv", "bn", "dense"):
            continue
        module = net.core(name)
        keys = ["weight", "bias"]
        if kind == "bn":
            keys += ["running_mean", "running_var"]
        state[name] = {
            key: getattr(module, key).detach().cpu().numpy()
            for key in keys
            if getattr(module, key, None) is not None
        }
    return peers_convert.keras_weights(model, state)


def nchw(x):
    """NHWC images (numpy) as a contiguous NCHW float32 tensor."""
    return torch.from_numpy(
        np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)), dtype=np.float32)
    )


def logits(net, x_nhwc, batch_size=1000):
    """`net`'s outputs on NHWC numpy images, eval mode, as numpy."""
    net.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(x_nhwc), batch_size):
            out.append(net(nchw(x_nhwc[start : start + batch_size])).numpy())
    return np.concatenate(out)
