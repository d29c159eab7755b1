"""Training-step overhead of the group-lasso penalty and its controllers.

Runs epochs of `--steps` steps of the small CNN at batch 128 (after a
warm-up epoch that traces the step), for each configuration, repeated
`--repeats` times in interleaved order. A step's time is the interval
between successive batch starts (so it includes the per-step work of the
callbacks); the median over all steps is compared with
the matching baseline (plain `fit`, or a `tfc.Distiller` without penalty).
On a shared machine wall time is noisy, so the process CPU time per step
(whole epochs, with one TensorFlow thread by default, including the
controllers' periodic updates) is reported too and is the figure to
trust; `paired_cpu_overhead` is the median over repeats of the ratio to
the baseline's epoch of the same repeat.
The controllers' once-per-epoch measurement is timed separately
(`epoch_end_s`). The goal is an overhead <= 5% per step.

Usage:

    python benchmarks/bench_sparsity_overhead.py --steps=60 --repeats=5
    python benchmarks/bench_sparsity_overhead.py --penalty_ops_only \
        --out=benchmarks/results/sparsity/penalty_ops.json
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

STEPS = flags.DEFINE_integer("steps", 60, "Steps per timed epoch.")
REPEATS = flags.DEFINE_integer("repeats", 5, "Timed epochs per config.")
BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size.")
THREADS = flags.DEFINE_integer(
    "threads", 1, "TensorFlow intra/inter-op threads (1: CPU time is stable)."
)
CONFIGS = flags.DEFINE_list(
    "configs",
    None,
    "Configurations to time (default: all); a baseline a configuration "
    "needs is added.",
)
OPS_ONLY = flags.DEFINE_bool(
    "penalty_ops_only",
    False,
    "Only time the penalty's own ops (`time_penalty_ops`).",
)
OUT = flags.DEFINE_string(
    "out", "benchmarks/results/sparsity/overhead.json", "JSON results file."
)


def _loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _compiled(model):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=_loss(),
        metrics=["accuracy"],
    )
    return model


def configs(teacher):
    """Returns `{name: (baseline name or None, factory)}`."""

    def plain():
        return _compiled(tfc.models.small_cnn()), []

    def sparsifier(proximal):
        def make():
            penalty = tfc.GroupLasso(1e-4, proximal=proximal)
            model = tfc.Sparsifier(tfc.models.small_cnn(), sparsity=penalty)
            budget = tfc.callbacks.BudgetController(
                target_macs=0.5, update_every=50
            )
            return _compiled(model), [budget]

        return make

    def kd(penalty, controller=None):
        def make():
            sparsity = tfc.GroupLasso(1e-4, proximal=True) if penalty else None
            model = tfc.Distiller(
                teacher,
                tfc.models.small_cnn(),
                [tfc.LogitsKD()],
                sparsity=sparsity,
            )
            callbacks = []
            if controller == "sparsity":
                callbacks = [
                    tfc.callbacks.SparsityController(
                        data=_batch(256), update_every=100
                    )
                ]
            elif controller == "budget":
                callbacks = [
                    tfc.callbacks.BudgetController(
                        target_macs=0.5, update_every=50
                    )
                ]
            return _compiled(model), callbacks

        return make

    return {
        "plain_fit": (None, plain),
        "sparsifier_gl_budget": ("plain_fit", sparsifier(False)),
        "sparsifier_gl_prox_budget": ("plain_fit", sparsifier(True)),
        "distiller": (None, kd(False)),
        "distiller_gl_prox": ("distiller", kd(True)),
        "distiller_gl_prox_ctrl": ("distiller", kd(True, "sparsity")),
        "distiller_gl_prox_budget": ("distiller", kd(True, "budget")),
    }


def _batch(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 28, 28, 1)).astype("float32")
    return x, rng.integers(0, 10, size=(n,))


class StepTimer(keras.callbacks.Callback):
    """Records the time between successive batch starts: one whole step,
    with the per-step work of every callback, without the epoch ends."""

    def __init__(self):
        super().__init__()
        self.starts = []

    def on_train_batch_begin(self, batch, logs=None):
        self.starts.append(time.perf_counter())


def time_epoch(model, callbacks, x, y):
    """Returns `(median wall s per step, CPU s per step)` of one epoch."""
    timer = StepTimer()
    cpu = time.process_time()
    model.fit(
        x,
        y,
        batch_size=BATCH.value,
        epochs=1,
        callbacks=[timer, *callbacks],
        verbose=0,
        shuffle=False,
    )
    cpu = (time.process_time() - cpu) / STEPS.value
    return float(np.median(np.diff(timer.starts))), cpu


def time_epoch_end(callbacks):
    """Seconds one controller spends in its epoch-end measurement."""
    spent = {}
    for callback in callbacks:
        if hasattr(callback, "measure"):
            start = time.perf_counter()
            callback.measure()
            spent[type(callback).__name__] = time.perf_counter() - start
    return spent


def _chosen(table):
    names = CONFIGS.value or list(table)
    unknown = sorted(set(names) - set(table))
    if unknown:
        raise app.UsageError(
            f"Unknown --configs {unknown}; choose from {list(table)}"
        )
    wanted = set(names) | {table[n][0] for n in names if table[n][0]}
    return {k: v for k, v in table.items() if k in wanted}


def time_penalty_ops(calls=200):
    """CPU ms per call of the penalty's own ops on the small CNN, traced.

    The per-step work the penalty adds, measured without a training step
    around it (so without the A/B noise of whole epochs): the value
    (proximal mode, no gradient), the value and its gradient (plain
    group lasso), and the proximal step.
    """
    import tensorflow as tf

    model = tfc.models.small_cnn()
    penalty = tfc.GroupLasso(1e-4)
    penalty.bind(model)
    weights = model.trainable_variables

    def value_and_grad():
        with tf.GradientTape() as tape:
            value = penalty(model)
        return value, tape.gradient(value, weights)

    ops = {
        "value": lambda: penalty(model),
        "value_and_gradient": value_and_grad,
        "proximal_step": lambda: penalty.apply_proximal(1e-3),
    }
    out = {}
    for name, op in ops.items():
        step = tf.function(op, autograph=False)
        step()
        start = time.process_time()
        for _ in range(calls):
            step()
        out[name] = 1000 * (time.process_time() - start) / calls
    return out


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS.value)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS.value)
    if OPS_ONLY.value:
        ops = time_penalty_ops()
        print("penalty_ops_cpu_ms", json.dumps(ops))
        _write({"penalty_ops_cpu_ms": ops})
        return
    x, y = _batch(STEPS.value * BATCH.value)
    teacher = tfc.models.small_cnn(name="teacher")
    teacher.trainable = False
    setups = {}
    for name, (base, make) in _chosen(configs(teacher)).items():
        model, callbacks = make()
        time_epoch(model, callbacks, x, y)  # warm-up: traces the step
        setups[name] = (base, model, callbacks, [])
    for _ in range(REPEATS.value):
        for _base, model, callbacks, times in setups.values():
            times.append(time_epoch(model, callbacks, x, y))
    results = {"penalty_ops_cpu_ms": time_penalty_ops()}
    print("penalty_ops_cpu_ms", json.dumps(results["penalty_ops_cpu_ms"]))
    for name, (base, _, callbacks, times) in setups.items():
        median = float(np.median([t[0] for t in times]))
        cpu = float(np.median([t[1] for t in times]))
        row = {
            "wall_ms_per_step": 1000 * median,
            "cpu_ms_per_step": 1000 * cpu,
            "baseline": base,
        }
        row["epoch_end_s"] = time_epoch_end(callbacks)
        if base is not None:
            ref = setups[base][3]
            row["wall_overhead"] = median / np.median([t[0] for t in ref]) - 1
            row["cpu_overhead"] = cpu / np.median([t[1] for t in ref]) - 1
            # Repeat i of every configuration ran back to back, so the
            # ratio within a repeat cancels slow drifts of the machine's
            # load.
            paired = [t[1] / r[1] - 1 for t, r in zip(times, ref)]
            row["paired_cpu_overhead"] = float(np.median(paired))
            row["paired_cpu_overhead_range"] = [
                float(np.min(paired)),
                float(np.max(paired)),
            ]
        results[name] = row
        print(name, json.dumps(row))
    _write(results)


def _write(results):
    os.makedirs(os.path.dirname(OUT.value) or ".", exist_ok=True)
    config = {
        "steps": STEPS.value,
        "repeats": REPEATS.value,
        "batch_size": BATCH.value,
        "cpu_count": os.cpu_count(),
        "threads": THREADS.value,
    }
    with open(OUT.value, "w") as f:
        json.dump({"config": config, "results": results}, f, indent=1)


if __name__ == "__main__":
    app.run(main)
