"""Per-round overhead of `tfc.iterative_prune` (prune, slim, rebuild, trace).

Runs `tfc.iterative_prune` on the small CNN with a small-CNN teacher
(logits KD), random 28x28 data, one epoch of `--steps` steps per round,
and splits its wall time into training (steps x the median step time of
each round's steady state) and per-round overhead (everything else:
ranking and slimming, the per-round `tfc.Distiller`, compile, tracing the
new train step, the first step). `--repeats` whole runs; medians are
reported. The figure to compare is `overhead_s_per_round`.

Usage:

    python benchmarks/bench_sparsity_iterative.py --steps=30 --repeats=3
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import tf_compact as tfc  # noqa: E402

STEPS = flags.DEFINE_integer("steps", 30, "Training steps per round.")
REPEATS = flags.DEFINE_integer("repeats", 3, "Whole runs.")
BATCH = flags.DEFINE_integer("batch_size", 64, "Batch size.")
TARGET = flags.DEFINE_float("target_macs", 0.3, "MACs target.")
FRACTION = flags.DEFINE_float("fraction", 0.2, "Channels removed per round.")
THREADS = flags.DEFINE_integer("threads", 1, "TensorFlow threads.")
LABEL = flags.DEFINE_string("label", "current", "Name of this measurement.")
OUT = flags.DEFINE_string(
    "out",
    "benchmarks/results/sparsity/iterative.json",
    "JSON results file; the measurement is added under `--label`.",
)


class StepTimer(keras.callbacks.Callback):
    """Records batch start times, one list per fit."""

    def __init__(self):
        super().__init__()
        self.fits = []

    def on_train_begin(self, logs=None):
        self.fits.append([])

    def on_train_batch_begin(self, batch, logs=None):
        self.fits[-1].append(time.perf_counter())

    def on_train_end(self, logs=None):
        self.fits[-1].append(time.perf_counter())


def run_once(teacher, x, y):
    """Returns the split of one `iterative_prune` run."""
    keras.utils.set_random_seed(0)
    student = tfc.models.small_cnn(name="student")
    student.set_weights(teacher.get_weights())
    timer = StepTimer()
    start = time.perf_counter()
    _, rounds = tfc.iterative_prune(
        student,
        (x, y),
        target_macs=TARGET.value,
        fraction=FRACTION.value,
        teacher=teacher,
        fit_kwargs={"batch_size": BATCH.value, "callbacks": [timer]},
    )
    total = time.perf_counter() - start
    train = 0.0
    for starts in timer.fits:
        steps = np.diff(starts)
        train += len(steps) * float(np.median(steps[1:]))
    return {
        "rounds": len(rounds),
        "total_s": total,
        "train_s": train,
        "overhead_s_per_round": (total - train) / max(len(rounds), 1),
        "macs_fraction": rounds[-1]["macs_fraction"],
    }


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS.value)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS.value)
    rng = np.random.default_rng(0)
    n = STEPS.value * BATCH.value
    x = rng.uniform(size=(n, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=(n,))
    keras.utils.set_random_seed(0)
    teacher = tfc.models.small_cnn(name="teacher")
    runs = [run_once(teacher, x, y) for _ in range(REPEATS.value)]
    summary = {
        key: float(np.median([r[key] for r in runs]))
        for key in runs[0]
        if key != "rounds"
    }
    summary["rounds"] = runs[0]["rounds"]
    summary["runs"] = runs
    print(LABEL.value, json.dumps(summary))
    results = {}
    if os.path.exists(OUT.value):
        with open(OUT.value) as f:
            results = json.load(f)
    results[LABEL.value] = {
        "config": {
            "steps": STEPS.value,
            "repeats": REPEATS.value,
            "batch_size": BATCH.value,
            "target_macs": TARGET.value,
            "fraction": FRACTION.value,
            "threads": THREADS.value,
        },
        **summary,
    }
    os.makedirs(os.path.dirname(OUT.value) or ".", exist_ok=True)
    with open(OUT.value, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    app.run(main)
