"""Keras ↔ PyTorch layout maths for the peers benchmark, without torch.

`bench_peers.py` runs Torch-Pruning on the very Keras teacher that
tf_compact compresses. This module holds everything of that port that
needs only NumPy and Keras, so it is tested where torch is not installed:

- `plan(model)`: the Keras graph as a list of `Step`s (one per layer, in
  topological order) with the settings a PyTorch layer needs ('same'
  padding resolved to explicit, possibly asymmetric, pads);
- `torch_weights(model)`: every layer's weights in PyTorch's layout
  (conv kernels HWIO → OIHW, BatchNorm γ/β/mean/var, the Dense after a
  Flatten with its rows permuted from NHWC to NCHW order);
- `keras_weights(...)` and `rebuild(...)`: the way back, into a Keras
  model with whatever widths the PyTorch model was pruned to.

Supported layers: Conv2D (no groups or dilation), BatchNormalization
(channels last), ReLU and `Activation("relu")`, MaxPooling2D /
AveragePooling2D ('valid'), GlobalAveragePooling2D, Flatten, Dense, Add,
Dropout. Anything else raises a `ValueError` naming the layer.
"""

import dataclasses

import keras
import numpy as np

_RELU = ("relu",)
_LINEAR = ("linear", None)


@dataclasses.dataclass
class Step:
    """One layer of the ported graph.

    Attributes:
        name: the Keras layer name (also the PyTorch module's key).
        kind: one of `conv`, `bn`, `relu`, `maxpool`, `avgpool`, `gap`,
            `flatten`, `dense`, `add`, `identity`.
        inputs: names of the steps (or of the model input) it reads.
        settings: what the PyTorch layer needs (`filters`, `pads`, ...).
    """

    name: str
    kind: str
    inputs: list
    settings: dict


def same_pads(size, kernel, stride):
    """TensorFlow's 'same' padding of one spatial axis: `(before, after)`.

    TensorFlow puts the odd pixel after (bottom/right), where PyTorch's
    symmetric `padding=` cannot follow it; e.g. `same_pads(28, 3, 2)` is
    `(0, 1)`.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_to_torch(kernel):
    """A Keras conv kernel (H, W, in, out) in PyTorch's (out, in, H, W)."""
    return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))


def conv_to_keras(weight):
    """A PyTorch conv weight (out, in, H, W) in Keras's (H, W, in, out)."""
    return np.ascontiguousarray(np.transpose(weight, (2, 3, 1, 0)))


def flat_dense_to_torch(kernel, height, width, channels):
    """The kernel of a Dense after Flatten, NHWC rows → a NCHW Linear.

    Keras flattens `(h, w, c)` as `(h * W + w) * C + c`, PyTorch flattens
    `(c, h, w)` as `(c * H + h) * W + w`; the rows are reordered so both
    compute the same output, and transposed to `(units, features)`.
    """
    units = kernel.shape[-1]
    rows = kernel.reshape(height, width, channels, units)
    return np.ascontiguousarray(rows.transpose(3, 2, 0, 1).reshape(units, -1))


def flat_dense_to_keras(weight, height, width, channels):
    """The inverse of `flat_dense_to_torch`."""
    units = weight.shape[0]
    rows = weight.reshape(units, channels, height, width)
    return np.ascontiguousarray(rows.transpose(2, 3, 1, 0).reshape(-1, units))


def _inbound(layer):
    node = layer._inbound_nodes[0]
    return [t._keras_history.operation.name for t in node.input_tensors]


def _shape(layer, which="input"):
    node = layer._inbound_nodes[0]
    tensors = node.input_tensors if which == "input" else node.outputs
    return tuple(tensors[0].shape)


def _unsupported(layer, why):
    return ValueError(
        f"Layer '{layer.name}' ({type(layer).__name__}) cannot be ported to "
        f"PyTorch: {why}. Supported: Conv2D, BatchNormalization, ReLU, "
        "MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, "
        "Dense, Add, Dropout."
    )


def _activation(layer):
    name = keras.activations.serialize(layer.activation)
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    if name in _LINEAR:
        return None
    if name in _RELU:
        return "relu"
    raise _unsupported(layer, f"activation {name!r}")


def _conv_step(layer):
    if layer.groups != 1 or tuple(layer.dilation_rate) != (1, 1):
        raise _unsupported(layer, "grouped or dilated convolution")
    if layer.data_format != "channels_last":
        raise _unsupported(layer, "channels_first data format")
    _, height, width, channels = _shape(layer)
    kh, kw = layer.kernel_size
    sh, sw = layer.strides
    pads = (0, 0, 0, 0)
    if layer.padding == "same":
        pads = same_pads(height, kh, sh) + same_pads(width, kw, sw)
    return {
        "in_channels": int(channels),
        "filters": int(layer.filters),
        "kernel": (int(kh), int(kw)),
        "strides": (int(sh), int(sw)),
        "pads": tuple(int(p) for p in pads),
        "use_bias": bool(layer.use_bias),
        "activation": _activation(layer),
    }


def _pool_step(layer):
    if layer.padding != "valid":
        raise _unsupported(layer, "'same' pooling")
    return {
        "pool": tuple(int(p) for p in layer.pool_size),
        "strides": tuple(int(s) for s in layer.strides),
    }


def _layer_step(layer, inputs, steps_by_name):
    kind_of = {
        keras.layers.ReLU: "relu",
        keras.layers.GlobalAveragePooling2D: "gap",
        keras.layers.Flatten: "flatten",
        keras.layers.Add: "add",
        keras.layers.Dropout: "identity",
    }
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(
        layer, (keras.layers.DepthwiseConv2D, keras.layers.Conv2DTranspose)
    ):
        return Step(layer.name, "conv", inputs, _conv_step(layer))
    if isinstance(layer, keras.layers.BatchNormalization):
        if layer.axis not in (-1, 3, [3], [-1]) or not (
            layer.center and layer.scale
        ):
            raise _unsupported(layer, "only channels-last, center and scale")
        return Step(
            layer.name,
            "bn",
            inputs,
            {
                "channels": int(_shape(layer)[-1]),
                "epsilon": float(layer.epsilon),
                "momentum": float(layer.momentum),
            },
        )
    if isinstance(layer, keras.layers.MaxPooling2D):
        return Step(layer.name, "maxpool", inputs, _pool_step(layer))
    if isinstance(layer, keras.layers.AveragePooling2D):
        return Step(layer.name, "avgpool", inputs, _pool_step(layer))
    if isinstance(layer, keras.layers.Activation):
        if _activation(layer) != "relu":
            raise _unsupported(layer, "only the ReLU activation")
        return Step(layer.name, "relu", inputs, {})
    if isinstance(layer, keras.layers.ReLU) and (
        layer.max_value is not None
        or float(layer.negative_slope) != 0.0
        or float(layer.threshold) != 0.0
    ):
        raise _unsupported(layer, "only the plain ReLU")
    if isinstance(layer, keras.layers.Dense):
        settings = {
            "in_features": int(_shape(layer)[-1]),
            "units": int(layer.units),
            "use_bias": bool(layer.use_bias),
            "activation": _activation(layer),
            "flat_from": None,
        }
        source = steps_by_name.get(inputs[0])
        if source is not None and source.kind == "flatten":
            settings["flat_from"] = source.settings["from_shape"]
        return Step(layer.name, "dense", inputs, settings)
    for cls, kind in kind_of.items():
        if isinstance(layer, cls):
            settings = {}
            if kind == "flatten":
                settings["from_shape"] = tuple(
                    int(d) for d in _shape(layer)[1:]
                )
            return Step(layer.name, kind, inputs, settings)
    raise _unsupported(layer, "no PyTorch equivalent here")


def plan(model):
    """The Functional `model` as `Step`s in topological order.

    Returns:
        `(input_name, steps, output_name)`.

    Raises:
        ValueError: if the model has several inputs or outputs, or a layer
            the port does not cover.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            "Invalid value for argument `model`. Expected one input and one "
            f"output. Received: {len(model.inputs)} inputs, "
            f"{len(model.outputs)} outputs"
        )
    input_name = model.inputs[0]._keras_history.operation.name
    output_name = model.outputs[0]._keras_history.operation.name
    steps, by_name = [], {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        step = _layer_step(layer, _inbound(layer), by_name)
        steps.append(step)
        by_name[step.name] = step
    return input_name, steps, output_name


def torch_weights(model):
    """`{layer name: {param name: array}}` in PyTorch's layout.

    Conv: `weight` (OIHW), `bias`; BatchNorm: `weight` (γ), `bias` (β),
    `running_mean`, `running_var`; Dense: `weight` (units, features; rows
    permuted to NCHW after a Flatten), `bias`.
    """
    _, steps, _ = plan(model)
    out = {}
    for step in steps:
        values = [np.asarray(w) for w in model.get_layer(step.name).weights]
        if step.kind == "conv":
            out[step.name] = {"weight": conv_to_torch(values[0])}
            if step.settings["use_bias"]:
                out[step.name]["bias"] = values[1]
        elif step.kind == "bn":
            gamma, beta, mean, var = values
            out[step.name] = {
                "weight": gamma,
                "bias": beta,
                "running_mean": mean,
                "running_var": var,
            }
        elif step.kind == "dense":
            flat = step.settings["flat_from"]
            kernel = values[0]
            if flat is not None and len(flat) == 3:
                weight = flat_dense_to_torch(kernel, *flat)
            else:
                weight = np.ascontiguousarray(kernel.T)
            out[step.name] = {"weight": weight}
            if step.settings["use_bias"]:
                out[step.name]["bias"] = values[1]
    return out


def _widths(state):
    """Output widths per conv/dense layer from PyTorch-layout weights."""
    return {
        name: int(params["weight"].shape[0])
        for name, params in state.items()
        if params["weight"].ndim in (2, 4)
    }


def rebuild(model, widths):
    """A fresh Keras copy of `model` with conv filters / Dense units
    `widths` (`{layer name: width}`); BatchNorm and the rest follow."""

    def clone(layer):
        config = layer.get_config()
        if layer.name in widths:
            key = "filters" if "filters" in config else "units"
            config[key] = int(widths[layer.name])
        return type(layer).from_config(config)

    return keras.models.clone_model(model, clone_function=clone)


def keras_weights(model, state):
    """A Keras model shaped like `state` (PyTorch layout), weights set.

    Args:
        model: the Keras model the PyTorch one was ported from (before
            pruning); only its architecture is used.
        state: `{layer name: {param name: array}}` as `torch_weights`
            writes it, with any widths.

    Returns:
        A new Keras model, built by `rebuild` with the widths of `state`.
    """
    slim = rebuild(model, _widths(state))
    _, steps, _ = plan(slim)
    for step in steps:
        layer = slim.get_layer(step.name)
        params = state.get(step.name)
        if step.kind == "conv":
            values = [conv_to_keras(params["weight"])]
        elif step.kind == "bn":
            values = [
                params[k]
                for k in ("weight", "bias", "running_mean", "running_var")
            ]
        elif step.kind == "dense":
            flat = step.settings["flat_from"]
            if flat is not None and len(flat) == 3:
                values = [flat_dense_to_keras(params["weight"], *flat)]
            else:
                values = [np.ascontiguousarray(params["weight"].T)]
        else:
            continue
        if "bias" in params and step.kind != "bn":
            values.append(params["bias"])
        layer.set_weights([np.asarray(v, dtype="float32") for v in values])
    return slim
