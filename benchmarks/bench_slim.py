"""Times ChannelGraph + slim against keras.models.clone_model, and the
TFLite latency of a 50%-channel ResNet-56 against the original.

Part 1: for each `keras.applications` model (random weights, 224x224
input), the median over `--repeats` of `clone_model(model)` and of
`slim(model, masks, graph=ChannelGraph(model))` with half the channels of
every group kept, measured alternately in the same process; the goal is a
ratio of at most 1.5.

Part 2: ResNet-56 (CIFAR layout, 32x32x3), trained a few steps on
Fashion-MNIST (padded to 32x32, repeated to 3 channels) so its weights and
batch-norm statistics are not those of initialization, and the model
`tfc.prune(ratio=0.5, scope="local")` makes of it. Both are converted to
float32 TFLite; each conversion is checked against Keras relative to the
output scale (`--rel_tol`), then both are timed alternately on one thread
and the best median of `--lite_repeats` is kept. The latency ratio is
printed next to the MACs ratio.

```shell
python benchmarks/bench_slim.py --repeats=3 \
    --output=benchmarks/results/slimming/time.md
```
"""

import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import tf_compact as tfc  # noqa: E402

_MODELS = flags.DEFINE_list(
    "models", ["ResNet50", "MobileNetV2", "EfficientNetB0"], "Models to time."
)
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed runs of each step.")
_TFLITE = flags.DEFINE_bool("tflite", True, "Also run the ResNet-56 part.")
_RUNS = flags.DEFINE_integer("runs", 200, "Timed TFLite invokes.")
_LITE_REPEATS = flags.DEFINE_integer(
    "lite_repeats", 5, "Alternating latency measurements per model."
)
_TRAIN_STEPS = flags.DEFINE_integer(
    "train_steps", 20, "Training steps of ResNet-56 before pruning."
)
_REL_TOL = flags.DEFINE_float(
    "rel_tol", 1e-4, "Allowed TFLite - Keras difference over output scale."
)
_OUTPUT = flags.DEFINE_string("output", None, "Markdown file for results.")


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def _half(graph):
    return {g.name: np.arange(g.size) < (g.size + 1) // 2 for g in graph.groups}


def time_one(model, repeats):
    """Median seconds of clone_model, ChannelGraph and slim, interleaved."""
    clones, graphs, slims = [], [], []
    for _ in range(repeats):
        clones.append(_timed(keras.models.clone_model, model))
        start = time.perf_counter()
        graph = tfc.ChannelGraph(model)
        graphs.append(time.perf_counter() - start)
        slims.append(_timed(tfc.slim, model, _half(graph), graph=graph))
    return [statistics.median(t) for t in (clones, graphs, slims)]


def time_rebuilds(names, repeats):
    rows = []
    for name in names:
        model = getattr(keras.applications, name)(weights=None)
        clone, graph, slim = time_one(model, repeats)
        ratio = (graph + slim) / clone
        rows.append((name, clone, graph, slim, ratio))
        print(
            f"{name}: clone {clone:.2f}s graph {graph:.2f}s "
            f"slim {slim:.2f}s ratio {ratio:.2f}"
        )
    return rows


def _fashion_32x32(limit):
    """Fashion-MNIST padded to 32x32 and repeated to 3 channels."""
    bundle = tfc.data.fashion_mnist(limit=limit, source="debian")
    x_train, y_train, x_test, _ = bundle.arrays()
    pad = ((0, 0), (2, 2), (2, 2), (0, 0))
    x_train, x_test = (
        np.repeat(np.pad(x, pad), 3, -1) for x in (x_train, x_test)
    )
    return x_train, y_train, x_test


def trained_resnet56(steps):
    """ResNet-56 after `steps` Adam steps of batch 64 on Fashion-MNIST."""
    from tf_compact.models.resnet import resnet

    x, y, x_test = _fashion_32x32(limit=64 * max(steps, 1))
    model = resnet(depth=56)
    if steps:
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(
            x, y, batch_size=64, epochs=1, steps_per_epoch=steps, verbose=0
        )
    return model, x_test[:64]


def check_conversion(model, content, x):
    """Max |TFLite - Keras| over max |Keras| on `x`, and the absolute diff."""
    expected = np.asarray(model.predict(x, verbose=0))
    got = np.asarray(tfc.lite.predict(content, x))
    diff = float(np.abs(got - expected).max())
    relative = diff / max(float(np.abs(expected).max()), 1e-12)
    if relative > _REL_TOL.value:
        raise RuntimeError(
            f"float32 TFLite of {model.name!r} differs from Keras by "
            f"{relative:.2e} of the output scale (> {_REL_TOL.value})."
        )
    return relative, diff


def _best_medians(contents, labels, runs, repeats):
    """Times the models alternately `repeats` times; keeps each best run."""
    best = {}
    for _ in range(repeats):
        for content, label in zip(contents, labels):
            r = tfc.lite.benchmark(
                content, num_threads=1, runs=runs, warmup=20, name=label
            )
            if label not in best or r.median_ms < best[label].median_ms:
                best[label] = r
    return [best[label] for label in labels]


def time_resnet56(runs, repeats, steps):
    model, x = trained_resnet56(steps)
    small = tfc.prune(model, 0.5, scope="local")
    costs = [tfc.estimate_slim_cost(m) for m in (model, small)]
    contents, checks = [], []
    for m in (model, small):
        content = tfc.lite.convert(m, mode="float32", verify=False)
        checks.append(check_conversion(m, content, x))
        contents.append(content)
    labels = ("ResNet-56", "ResNet-56 50% channels")
    results = _best_medians(contents, labels, runs, repeats)
    for r, (macs, _), (rel, _) in zip(results, costs, checks):
        print(
            f"{r.name}: {r.median_ms:.3f} ms ({r.runtime}, {r.delegate}), "
            f"{macs / 1e6:.1f} MMACs, TFLite vs Keras {rel:.1e}"
        )
    return results, costs, checks


def _lite_lines(results, costs, checks):
    lines = [
        "",
        "## TFLite float32 latency, 1 thread: ResNet-56 (32x32x3) vs "
        "`prune(ratio=0.5, scope='local')`",
        "",
        f"ResNet-56 trained {_TRAIN_STEPS.value} steps (batch 64, Adam) on "
        "Fashion-MNIST padded to 32x32x3, then pruned (L2 importance, no "
        "fine-tuning). Each model timed "
        f"{_LITE_REPEATS.value} times alternately ({_RUNS.value} invokes "
        "each); the best median is kept. `TFLite vs Keras` is max |TFLite -"
        " Keras| over max |Keras| on 64 test images (the run fails above "
        f"{_REL_TOL.value:g}); `abs diff` is the same difference unscaled.",
        "",
        "| model | runtime | delegate | median ms | MMACs | params | "
        "TFLite vs Keras | abs diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r, (macs, params), (rel, diff) in zip(results, costs, checks):
        lines.append(
            f"| {r.name} | {r.runtime} | {r.delegate} | {r.median_ms:.3f} | "
            f"{macs / 1e6:.1f} | {params:,} | {rel:.1e} | {diff:.1e} |"
        )
    latency = results[1].median_ms / results[0].median_ms
    macs = costs[1][0] / costs[0][0]
    return lines + [
        "",
        f"Latency ratio {latency:.2f}, MACs ratio {macs:.2f} "
        f"(speed-up {1 / latency:.2f}x for a {1 / macs:.2f}x MACs cut).",
    ]


def _command():
    args = [
        f"--{flag.name}={flag.value}"
        for flag in (_REPEATS, _RUNS, _LITE_REPEATS, _TRAIN_STEPS)
    ]
    if _MODELS.value != _MODELS.default:
        args.append(f"--models={','.join(_MODELS.value)}")
    if not _TFLITE.value:
        args.append("--notflite")
    args.append("--output=benchmarks/results/slimming/time.md")
    return "python benchmarks/bench_slim.py " + " ".join(args)


def _markdown(rows, lite):
    lines = [
        "# bench_slim results",
        "",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
        f"at the end of the run; keras {keras.__version__}, tensorflow "
        f"{tf.__version__}.",
        f"Command: `{_command()}`",
        "",
        "## ChannelGraph + slim vs keras.models.clone_model (224x224, "
        "half the channels of every group kept)",
        "",
        "| model | clone_model s | ChannelGraph s | slim s | "
        "(graph + slim) / clone |",
        "|---|---|---|---|---|",
    ]
    for name, clone, graph, slim, ratio in rows:
        lines.append(
            f"| {name} | {clone:.2f} | {graph:.2f} | {slim:.2f} | {ratio:.2f} |"
        )
    if lite:
        lines += _lite_lines(*lite)
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    rows = time_rebuilds(_MODELS.value, _REPEATS.value)
    lite = None
    if _TFLITE.value:
        lite = time_resnet56(
            _RUNS.value, _LITE_REPEATS.value, _TRAIN_STEPS.value
        )
    text = _markdown(rows, lite)
    print(text)
    if _OUTPUT.value:
        os.makedirs(os.path.dirname(_OUTPUT.value) or ".", exist_ok=True)
        with open(_OUTPUT.value, "w") as f:
            f.write(text)


if __name__ == "__main__":
    app.run(main)
