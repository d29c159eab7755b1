"""Latency of pruned widths: raw counts vs multiples of 4, 8 and 16.

Global structured pruning keeps whatever channel count each group ends
with (17, 31, ...). The interpreter's convolution kernels work on tiles of
output channels, so a width just above a tile size costs almost a whole
extra tile. This benchmark prunes one model to a MACs target with
`tfc.prune(..., round_to=r)` for several `r`, converts each result to
float32 TFLite and times it on one thread, interleaving the models and
keeping each one's best median. It prints the widths, MACs, latency and
the speed-up divided by the MACs reduction (1.0 = latency falls as fast as
the MACs).

The importance scores come from the model's weights; a trained teacher
(`--teacher_path`) gives the widths a real prune would give, an untrained
model (the default) gives random ones, which is enough to compare the
rounding.

```shell
python benchmarks/bench_round_to.py --model=vgg --lighten=gap_head \
    --target_macs=0.25 --output=benchmarks/results/lite/round_to.md
```
"""

import os
import platform
import sys

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import tf_compact as tfc  # noqa: E402
from tf_compact.lite import runtime  # noqa: E402

MODEL = flags.DEFINE_string("model", "vgg", "A tf_compact.models name.")
TEACHER_PATH = flags.DEFINE_string(
    "teacher_path", None, "A trained .keras model to prune instead."
)
LIGHTEN = flags.DEFINE_list("lighten", ["gap_head"], "Transforms first.")
TARGET_MACS = flags.DEFINE_float("target_macs", 0.25, "MACs target.")
ROUND_TO = flags.DEFINE_list("round_to", ["1", "4", "8", "16"], "Multiples.")
RUNS = flags.DEFINE_integer("runs", 500, "Timed invokes per measurement.")
REPEATS = flags.DEFINE_integer("repeats", 3, "Interleaved measurements.")
OUTPUT = flags.DEFINE_string("output", None, "Markdown file to write.")


def _base():
    if TEACHER_PATH.value:
        model = keras.saving.load_model(TEACHER_PATH.value, compile=False)
    else:
        keras.utils.set_random_seed(0)
        model = tfc.models.get(MODEL.value)
    for name in LIGHTEN.value:
        model = getattr(tfc.lighten, name)(model)
    return model


def _widths(model):
    from tf_compact.pipeline.stages import layer_widths

    return list(layer_widths(model).values())


def _time(models):
    """Best-of-`REPEATS` median latency (ms) per model, interleaved."""
    blobs = {k: tfc.lite.convert(m, mode="float32") for k, m in models.items()}
    best = {}
    for _ in range(REPEATS.value):
        for key, data in blobs.items():
            ms = tfc.lite.benchmark(
                data, num_threads=1, runs=RUNS.value, warmup=50
            ).median_ms
            best[key] = min(best.get(key, ms), ms)
    return best, {k: len(v) for k, v in blobs.items()}


def _table(base, models, latency):
    base_macs = tfc.profile(base).macs
    lines = [
        "| model | widths | MACs | float32 ms | speed-up | "
        "MACs reduction | ratio |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, model in models.items():
        macs = tfc.profile(model).macs
        speed = latency["base"] / latency[key]
        reduction = base_macs / macs
        widths = ", ".join(str(w) for w in _widths(model))
        lines.append(
            f"| {key} | {widths} | {macs / 1e6:.2f}M | "
            f"{latency[key]:.4f} | {speed:.2f}x | {reduction:.2f}x | "
            f"{speed / reduction:.2f} |"
        )
    return lines


def main(argv):
    del argv
    base = _base()
    models = {"base": base}
    for value in ROUND_TO.value:
        r = int(value)
        key = "round_to=None" if r == 1 else f"round_to={r}"
        models[key] = tfc.prune(
            base,
            target_macs=TARGET_MACS.value,
            importance="l2",
            round_to=None if r == 1 else r,
        )
    latency, _ = _time(models)
    source = TEACHER_PATH.value or f"untrained {MODEL.value}"
    flags_given = [a for a in sys.argv[1:] if a.startswith("--")]
    command = " ".join(["python benchmarks/bench_round_to.py"] + flags_given)
    lines = [
        "# Pruned widths and latency (bench_round_to.py)",
        "",
        f"Command: `{command}`",
        "",
        f"{source}, lightened with {', '.join(LIGHTEN.value) or 'nothing'}, "
        f"pruned to {TARGET_MACS.value:.0%} of its MACs (L2 importance); "
        f"float32 TFLite, 1 thread, best of {REPEATS.value} medians of "
        f"{RUNS.value} invokes; {platform.machine()}, {runtime.cpu_name()}.",
        "",
        *_table(base, models, latency),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if OUTPUT.value:
        os.makedirs(os.path.dirname(OUTPUT.value) or ".", exist_ok=True)
        with open(OUTPUT.value, "w") as f:
            f.write(text)


if __name__ == "__main__":
    app.run(main)
