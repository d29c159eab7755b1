"""Checks ChannelGraph and slim on every keras.applications CNN family.

For each family (random weights, small input where the family allows it) it
builds the channel graph, draws random masks (about half of every group),
and compares `slim(model, masks)` with `apply_masks(model, masks)` on a
random batch. The pass table goes to a markdown file.

```shell
python benchmarks/sweep_applications.py \
    --output=benchmarks/results/slimming/applications.md
```
"""

import os
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import tf_compact as tfc  # noqa: E402

_OUTPUT = flags.DEFINE_string("output", None, "Markdown file for the table.")
_ONLY = flags.DEFINE_list("only", None, "Run only these families.")

A = keras.applications
SMALL = (32, 32, 3)
COMMON = {"weights": None, "classes": 10, "classifier_activation": None}

FAMILIES = {
    "MobileNet": ("MobileNet", SMALL, {}),
    "MobileNetV2": ("MobileNetV2", SMALL, {}),
    "MobileNetV3Small": ("MobileNetV3Small", SMALL, {}),
    "MobileNetV3Large": ("MobileNetV3Large", SMALL, {}),
    "ResNet50": ("ResNet50", SMALL, {}),
    "ResNet101V2": ("ResNet101V2", SMALL, {}),
    "EfficientNetB0": ("EfficientNetB0", SMALL, {}),
    "EfficientNetV2B0": ("EfficientNetV2B0", SMALL, {}),
    "DenseNet121": ("DenseNet121", SMALL, {}),
    "Xception": ("Xception", (71, 71, 3), {}),
    "InceptionV3": ("InceptionV3", (75, 75, 3), {}),
    "InceptionResNetV2": ("InceptionResNetV2", (75, 75, 3), {}),
    "NASNetMobile": ("NASNetMobile", SMALL, {}),
    "ConvNeXtTiny": ("ConvNeXtTiny", SMALL, {}),
    "VGG16": ("VGG16", SMALL, {}),
    "RegNet": ("RegNetX002", SMALL, {}),
}


def _masks(graph, rng):
    masks = {}
    for g in graph.groups:
        mask = rng.random(g.size) < 0.5
        for _, channels in graph.segments[g.name]:
            if not mask[channels].any():
                mask[rng.choice(channels)] = True
        masks[g.name] = mask
    return masks


def wake_layer_scales(model):
    """Sets LayerScale weights (ConvNeXt starts them at 1e-6) to one.

    Otherwise every residual block is nearly the identity and a wrong slice
    inside it would not show in the output.
    """
    for layer in model._flatten_layers():
        if type(layer).__name__ == "LayerScale":
            for w in layer.weights:
                w.assign(np.ones(w.shape, w.dtype))


def check_family(name):
    """Returns a dict describing how the family went."""
    builder, shape, extra = FAMILIES[name]
    if not hasattr(A, builder):
        return {
            "status": "n/a",
            "note": f"keras.applications {keras.__version__} has no {builder}",
        }
    model = getattr(A, builder)(input_shape=shape, **COMMON, **extra)
    wake_layer_scales(model)
    start = time.perf_counter()
    graph = tfc.ChannelGraph(model)
    graph_s = time.perf_counter() - start
    masks = _masks(graph, np.random.default_rng(0))
    small = tfc.slim(model, masks, graph=graph)
    reference = tfc.apply_masks(model, masks, graph=graph)
    x = np.random.default_rng(1).uniform(0, 255, (2,) + shape).astype("f4")
    a = np.asarray(small(x, training=False))
    b = np.asarray(reference(x, training=False))
    diff = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-6))
    ok = diff <= 1e-4 and small.count_params() < model.count_params()
    return {
        "status": "pass" if ok else "FAIL",
        "groups": len(graph.groups),
        "channels": sum(g.size for g in graph.groups),
        "params": f"{model.count_params():,} -> {small.count_params():,}",
        "diff": f"{diff:.1e}",
        "graph_s": f"{graph_s:.2f}",
    }


def _command():
    command = "python benchmarks/sweep_applications.py"
    if _ONLY.value:
        command += f" --only={','.join(_ONLY.value)}"
    return command + " --output=benchmarks/results/slimming/applications.md"


def _table(results):
    lines = [
        "# keras.applications sweep",
        "",
        "Random weights; random masks keeping about half of every group; "
        "`diff` is max |slim - apply_masks| over max |apply_masks| on a "
        "random batch of 2; `pass` needs diff <= 1e-4 and fewer params. "
        "LayerScale weights (1e-6 at initialization) are set to 1 so that "
        "residual blocks show in the output.",
        f"Keras {keras.__version__}, TensorFlow {tf.__version__}.",
        f"Command: `{_command()}`",
        "",
        "| family | status | groups | prunable channels | params | diff | "
        "graph s | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        cells = [
            r.get(k, "")
            for k in (
                "status",
                "groups",
                "channels",
                "params",
                "diff",
                "graph_s",
                "note",
            )
        ]
        lines.append(f"| {name} | " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    results = {}
    for name in _ONLY.value or list(FAMILIES):
        try:
            results[name] = check_family(name)
        except Exception as e:  # reported in the table, not hidden
            traceback.print_exc()
            results[name] = {"status": "FAIL", "note": type(e).__name__}
        print(name, results[name], flush=True)
        keras.backend.clear_session()
    text = _table(results)
    print(text)
    if _OUTPUT.value:
        os.makedirs(os.path.dirname(_OUTPUT.value) or ".", exist_ok=True)
        with open(_OUTPUT.value, "w") as f:
            f.write(text)


if __name__ == "__main__":
    app.run(main)
