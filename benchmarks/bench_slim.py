"""Times ChannelGraph + slim against keras.models.clone_model, and the
TFLite latency of a 50%-channel ResNet-56 against the original.

Part 1: for each `keras.applications` model (random weights, 224x224
input), the median over `--repeats` of `clone_model(model)` and of
`slim(model, masks, graph=ChannelGraph(model))` with half the channels of
every group kept, measured alternately in the same process; the goal is a
ratio of at most 1.5.

Part 2: ResNet-56 (CIFAR, 32x32) and the model `tfc.prune(ratio=0.5,
scope="local")` makes of it, converted to float32 TFLite and timed on one
thread; the latency ratio is printed next to the MACs ratio.

```shell
python benchmarks/bench_slim.py --repeats=3 \
    --output=benchmarks/results/slim.md
```
"""

import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import tf_compact as tfc  # noqa: E402

_MODELS = flags.DEFINE_list(
    "models", ["ResNet50", "MobileNetV2", "EfficientNetB0"], "Models to time."
)
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed runs of each step.")
_TFLITE = flags.DEFINE_bool("tflite", True, "Also run the ResNet-56 part.")
_RUNS = flags.DEFINE_integer("runs", 200, "Timed TFLite invokes.")
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


def time_resnet56(runs):
    from tf_compact.models.resnet import resnet

    model = resnet(depth=56)
    small = tfc.prune(model, 0.5, scope="local")
    macs = [tfc.estimate_slim_cost(m)[0] for m in (model, small)]
    results = [
        tfc.lite.benchmark(
            tfc.lite.convert(m, mode="float32", verify=False),
            num_threads=1,
            runs=runs,
            name=label,
        )
        for m, label in ((model, "ResNet-56"), (small, "ResNet-56 50%"))
    ]
    for r, m in zip(results, macs):
        print(
            f"{r.name}: {r.median_ms:.3f} ms ({r.runtime}, {r.delegate}), "
            f"{m / 1e6:.1f} MMACs"
        )
    return results, macs


def _markdown(rows, lite):
    lines = [
        "# bench_slim results",
        "",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; keras {keras.__version__}.",
        "Command: `python benchmarks/bench_slim.py --repeats="
        f"{_REPEATS.value} --output=benchmarks/results/slim.md`",
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
        results, macs = lite
        lines += [
            "",
            "## TFLite float32 latency, 1 thread: ResNet-56 (32x32) vs "
            "`prune(ratio=0.5, scope='local')`",
            "",
            "| model | runtime | delegate | median ms | MMACs |",
            "|---|---|---|---|---|",
        ]
        for r, m in zip(results, macs):
            lines.append(
                f"| {r.name} | {r.runtime} | {r.delegate} | "
                f"{r.median_ms:.3f} | {m / 1e6:.1f} |"
            )
        lines += [
            "",
            f"Latency ratio {results[1].median_ms / results[0].median_ms:.2f}"
            f", MACs ratio {macs[1] / macs[0]:.2f}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    rows = time_rebuilds(_MODELS.value, _REPEATS.value)
    lite = time_resnet56(_RUNS.value) if _TFLITE.value else None
    text = _markdown(rows, lite)
    print(text)
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w") as f:
            f.write(text)


if __name__ == "__main__":
    app.run(main)
