"""Times `tf_compact.profile` on reference architectures and checks figures.

For each `keras.applications` model (random weights, nothing downloaded) it
prints the MACs against the published figure, whether the parameter count
equals `model.count_params()`, and the median wall time of `profile` (the
model is built once; only profiling is timed). Results also go to a JSON
file.

```shell
python benchmarks/bench_profile.py --repeats=20 \
    --output=/tmp/bench_profile.json
```
"""

import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

import tf_compact as tfc  # noqa: E402

_REPEATS = flags.DEFINE_integer(
    "repeats", 10, "Timed profile() calls per model."
)
_MODELS = flags.DEFINE_list(
    "models",
    [
        "MobileNet",
        "MobileNetV2",
        "MobileNetV3Small",
        "ResNet50",
        "EfficientNetB0",
        "DenseNet121",
    ],
    "keras.applications constructors to profile.",
)
_OUTPUT = flags.DEFINE_string(
    "output", "bench_profile.json", "Where to write the JSON results."
)

# Multiply-accumulates at 224x224 as published by the architectures'
# authors (MobileNet, MobileNetV2, MobileNetV3, EfficientNet papers; the
# ResNet50 figure is the commonly quoted 3.8G-4.1G range's lower end).
PUBLISHED_MACS = {
    "MobileNet": 569e6,
    "MobileNetV2": 300e6,
    "MobileNetV3Small": 56e6,
    "ResNet50": 3.86e9,
    "EfficientNetB0": 390e6,
    "DenseNet121": 2.87e9,
}
# Models whose Keras constructor leaves the spatial dimensions free.
NEEDS_INPUT_SHAPE = {"MobileNetV3Small", "MobileNetV3Large"}


def _bench(name, repeats):
    import keras

    model = getattr(keras.applications, name)(weights=None)
    kwargs = {}
    if name in NEEDS_INPUT_SHAPE:
        kwargs["input_shape"] = (224, 224, 3)
    prof = tfc.profile(model, **kwargs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tfc.profile(model, **kwargs)
        times.append(time.perf_counter() - start)
    published = PUBLISHED_MACS.get(name)
    return {
        "model": name,
        "macs": prof.macs,
        "published_macs": published,
        "macs_vs_published": prof.macs / published if published else None,
        "params": prof.params,
        "params_equal_count_params": prof.params == model.count_params(),
        "peak_activation_bytes": prof.peak_activation_bytes,
        "unknown_layers": len(prof.unknown_layers),
        "profile_seconds_median": statistics.median(times),
        "profile_seconds_min": min(times),
        "layer_calls": len(prof.layers),
    }


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    results = []
    for name in _MODELS.value:
        logging.info("Profiling %s", name)
        results.append(_bench(name, _REPEATS.value))
    header = (
        f"{'model':<18}{'MACs':>10}{'published':>11}{'ratio':>8}"
        f"{'params ok':>11}{'median ms':>11}"
    )
    print(header)
    for r in results:
        published = (r["published_macs"] or 0) / 1e6
        print(
            f"{r['model']:<18}{r['macs'] / 1e6:>9.1f}M{published:>10.0f}M"
            f"{(r['macs_vs_published'] or 0):>8.3f}"
            f"{str(r['params_equal_count_params']):>11}"
            f"{1e3 * r['profile_seconds_median']:>11.1f}"
        )
    meta = {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "repeats": _REPEATS.value,
    }
    with open(_OUTPUT.value, "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "results": results}, f, indent=2)
    print(f"Wrote {_OUTPUT.value}")


if __name__ == "__main__":
    app.run(main)
