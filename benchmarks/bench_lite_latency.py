"""Latency of a slimmed model vs magnitude pruning, on LiteRT.

Slims a ResNet-20 to half of every channel group with `tfc.slim` (what
structured pruning produces), and prunes a tf_keras clone of the same
ResNet-20 with tfmot magnitude pruning to the same number of non-zero
parameters. Measures TFLite size and 1-thread LiteRT latency of each, and
reports the slimmed model's latency speed-up divided by its MACs reduction.

Usage:
    python benchmarks/bench_lite_latency.py --runs=300 \
        --output=benchmarks/results/lite/latency.md
"""

import gzip
import os
import platform

from absl import app
from absl import flags
from absl import logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tf_compact as tfc  # noqa: E402
from tf_compact.lite import runtime  # noqa: E402
from tf_compact.lite.qat import import_tfmot  # noqa: E402

RUNS = flags.DEFINE_integer("runs", 300, "Timed invokes per measurement.")
WARMUP = flags.DEFINE_integer("warmup", 30, "Untimed invokes first.")
REPEATS = flags.DEFINE_integer(
    "repeats", 3, "Interleaved measurements per model; the best is kept."
)
THREADS = flags.DEFINE_integer("threads", 1, "LiteRT threads.")
OUTPUT = flags.DEFINE_string("output", None, "Markdown file to write.")


def _half_masks(model):
    graph = tfc.ChannelGraph(model)
    masks = {}
    for group in graph.groups:
        masks[group.name] = np.arange(group.size) < (group.size + 1) // 2
    return graph, masks


def _magnitude_pruned(model, sparsity, x):
    """tfmot magnitude pruning of a tf_keras clone to `sparsity`."""
    import tf_keras

    tfmot = import_tfmot()
    sparsity_api = tfmot.sparsity.keras
    clone = tfc.lite.to_tf_keras(model)
    schedule = sparsity_api.ConstantSparsity(
        sparsity, begin_step=0, frequency=1
    )
    pruned = sparsity_api.prune_low_magnitude(clone, pruning_schedule=schedule)
    pruned.compile(
        tf_keras.optimizers.SGD(0.0),
        tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    y = np.zeros(len(x), np.int32)
    pruned.fit(
        x,
        y,
        batch_size=len(x) // 2,
        epochs=1,
        verbose=0,
        callbacks=[sparsity_api.UpdatePruningStep()],
    )
    return sparsity_api.strip_pruning(pruned)


def _nonzero(model):
    return int(sum(np.count_nonzero(w) for w in model.get_weights()))


def _measure(models):
    """Interleaves runs of every model; keeps each one's best median."""
    best = {}
    for _ in range(REPEATS.value):
        for name, tflite in models.items():
            result = tfc.lite.benchmark(
                tflite,
                num_threads=THREADS.value,
                warmup=WARMUP.value,
                runs=RUNS.value,
                name=name,
            )
            if name not in best or result.median_ms < best[name].median_ms:
                best[name] = result
    return [best[name] for name in models]


def _report(results, macs, params, gz_sizes, command):
    by_name = {r.name: r for r in results}
    full, slim = by_name["resnet20 float"], by_name["slim float"]
    speedup = full.median_ms / slim.median_ms
    mac_reduction = macs["full"] / macs["slim"]
    tfmot = by_name["tfmot magnitude float"]
    int8_speedup = (
        by_name["resnet20 int8"].median_ms / by_name["slim int8"].median_ms
    )
    lines = [
        "# LiteRT latency: slimmed vs magnitude-pruned ResNet-20",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {runtime.cpu_name()} ({platform.machine()}), "
        f"{os.cpu_count()} cores visible, "
        f"load average {os.getloadavg()[0]:.1f} at the end; the machine is "
        "shared by other jobs, so each "
        f"model was measured {REPEATS.value} times interleaved and the "
        "best median is kept.",
        "",
        "The slimmed model is ResNet-20 with half of every channel group "
        "removed by `tfc.slim` (random weights: latency and size do not "
        "depend on the values). The tfmot model is a tf_keras clone "
        "pruned by `prune_low_magnitude` to the slimmed model's "
        "parameter count.",
        "",
        tfc.lite.compare(results),
        "",
        "| model | MACs | non-zero params | gzip KiB |",
        "|---|---|---|---|",
    ]
    for key, name in (
        ("full", "resnet20 float"),
        ("slim", "slim float"),
        ("tfmot", "tfmot magnitude float"),
    ):
        lines.append(
            f"| {name} | {macs[key]:,} | {params[key]:,} | "
            f"{gz_sizes[name] / 1024:.1f} |"
        )
    lines += [
        "",
        f"- MACs reduction of the slimmed model: {mac_reduction:.2f}x",
        f"- LiteRT {THREADS.value}-thread speed-up (float): {speedup:.2f}x",
        f"- speed-up / MACs reduction: {speedup / mac_reduction:.2f} "
        "(goal >= 0.85)",
        f"- same for int8: speed-up {int8_speedup:.2f}x, ratio "
        f"{int8_speedup / mac_reduction:.2f}",
        f"- tfmot magnitude pruning at equal parameter count: speed-up "
        f"{full.median_ms / tfmot.median_ms:.2f}x, size ratio "
        f"{tfmot.size_bytes / full.size_bytes:.2f}",
    ]
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    full = tfc.models.resnet(20)
    graph, masks = _half_masks(full)
    slim = tfc.slim(full, masks, graph=graph)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 32, 32, 3)).astype(np.float32)
    macs = {"full": tfc.profile(full).macs, "slim": tfc.profile(slim).macs}
    params = {"full": _nonzero(full), "slim": _nonzero(slim)}
    sparsity = 1.0 - params["slim"] / params["full"]
    pruned = _magnitude_pruned(full, sparsity, x)
    params["tfmot"] = _nonzero(pruned)
    macs["tfmot"] = macs["full"]
    models = {
        "resnet20 float": tfc.lite.convert(full),
        "slim float": tfc.lite.convert(slim),
        "resnet20 int8": tfc.lite.convert(full, "int8", x),
        "slim int8": tfc.lite.convert(slim, "int8", x),
        "tfmot magnitude float": tfc.lite.convert(pruned),
    }
    gz_sizes = {k: len(gzip.compress(bytes(v))) for k, v in models.items()}
    results = _measure(models)
    command = "python benchmarks/bench_lite_latency.py " + " ".join(
        f"--{f.name}={f.value}" for f in (RUNS, WARMUP, REPEATS, THREADS)
    )
    text = _report(results, macs, params, gz_sizes, command)
    print(text)
    if OUTPUT.value:
        os.makedirs(os.path.dirname(OUTPUT.value) or ".", exist_ok=True)
        with open(OUTPUT.value, "w") as f:
            f.write(text)
        logging.info("Wrote %s", OUTPUT.value)


if __name__ == "__main__":
    app.run(main)
