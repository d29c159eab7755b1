"""A latency budget vs a MACs budget at the same measured latency.

One teacher (`--teacher=vgg|mobilenet_v2`) on Fashion-MNIST: the converged
one of `benchmarks/teachers.py` when it is cached (`common.load_teacher`),
else a short one trained here (`--teacher_epochs`, cached in `--work_dir`)
and labelled so in the results. It is pruned twice with `tfc.prune`
(global ranking, widths rounded to `--round_to`):

- `latency`: to `target_latency = --latency_fraction` x the teacher's
  measured latency, from the per-group latency table of
  `tf_compact.pruning.latency` (built here, cached on disk); its measured
  latency is `L`;
- `macs`: to a `target_macs` found by bisection so that the MACs-pruned
  model's *measured* latency is within `--match_tolerance` of `L`. With
  `--match=at_least` (the default) it must also be no faster than `L`,
  so the MACs arm never gets less time than the latency arm: the
  bisection keeps the closest candidate at or above `L` (the closest
  one overall only when none is).

With `--scope=sensitivity` both prunes use the sensitivity allocation
(`tfc.prune(scope="sensitivity")`) instead of the global ranking.

Latency is measured on the TFLite interpreter (float32, batch 1,
`--threads`). Both students are then fine-tuned the same way, with
`tfc.Distiller` and `tfc.LogitsKD`, once per seed of `--seeds`, and
compared: test accuracy (per seed and mean), MACs, parameters, measured
latency (interleaved measurements, best of `--repeats`), the latency the
table predicts, and the kept width of every group. With
`--recalibrate_bn` the BN moving statistics of the short teacher and of
both fine-tuned students are recomputed on the training batches. Results
go to `<results_dir>/<name>.json` and `.md`, with the command at the top.
A result made by the same command on the same converged teacher is kept:
the run stops at once (`--rerun` runs it again and replaces it). An
interrupted run resumes: the two pruned students (with the bisection) and
each fine-tuned student are saved under `--work_dir` as they are made,
keyed by the teacher and every flag that changes the result, and read
back by the next run of the same settings.

```shell
python benchmarks/bench_latency_budget.py --teacher=vgg
python benchmarks/bench_latency_budget.py --teacher=mobilenet_v2
# a quick check
python benchmarks/bench_latency_budget.py --limit=4096 --epochs=1 \\
    --teacher_epochs=1 --seeds=0 --name=quick
```
"""

import json
import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402

TEACHER = flags.DEFINE_enum(
    "teacher", "vgg", ["vgg", "mobilenet_v2"], "Which teacher to prune."
)
TEACHER_EPOCHS = flags.DEFINE_integer(
    "teacher_epochs",
    4,
    "Epochs of the short teacher, trained only when no converged one is "
    "cached.",
)
EPOCHS = flags.DEFINE_integer("epochs", 4, "KD fine-tune epochs per student.")
LATENCY_FRACTION = flags.DEFINE_float(
    "latency_fraction",
    0.35,
    "Latency target as a fraction of the teacher's measured latency.",
)
TOLERANCE = flags.DEFINE_float(
    "match_tolerance",
    0.03,
    "Relative gap of measured latencies at which the MACs bisection stops.",
)
MATCH = flags.DEFINE_enum(
    "match",
    "at_least",
    ["at_least", "closest"],
    "at_least: the MACs arm is no faster than the latency arm (within "
    "--match_tolerance above it); closest: the nearest latency either way.",
)
MAX_STEPS = flags.DEFINE_integer(
    "max_bisection_steps", 10, "Cap on the MACs bisection steps."
)
ROUND_TO = flags.DEFINE_integer("round_to", 8, "`round_to` of both prunes.")
SCOPE = flags.DEFINE_enum(
    "scope",
    "global",
    ["global", "sensitivity"],
    "Allocation of both prunes: the global ranking, or the sensitivity "
    "allocation (on 8 training batches, measured once for the run).",
)
THREADS = flags.DEFINE_integer("threads", 1, "Interpreter threads.")
RUNS = flags.DEFINE_integer("runs", 200, "Timed invokes per measurement.")
REPEATS = flags.DEFINE_integer(
    "repeats", 5, "Interleaved measurements per model; the best is kept."
)
TEMPERATURE = flags.DEFINE_float("temperature", 4.0, "LogitsKD temperature.")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Batch size.")
LIMIT = flags.DEFINE_integer("limit", None, "Cap on examples (quick runs).")
SEEDS = flags.DEFINE_list("seeds", ["0"], "Fine-tune seeds.")
RECALIBRATE = flags.DEFINE_boolean(
    "recalibrate_bn",
    False,
    "Recompute the BN moving statistics (`tfc.sparsity."
    "recalibrate_batch_norm`, on the training batches) of the short "
    "teacher after training and of both students after fine-tuning: a "
    "high BN momentum (MobileNetV2's 0.999) leaves them stale after a few "
    "hundred steps.",
)
NAME = flags.DEFINE_string(
    "name", None, "Base name of the results (default: the teacher's name)."
)
RESULTS = flags.DEFINE_string(
    "results_dir",
    os.path.join(common.RESULTS_DIR, "latency_budget"),
    "Where the JSON and markdown land.",
)
RERUN = flags.DEFINE_boolean(
    "rerun",
    False,
    "Run again even when a result of the same command and teacher exists.",
)
WORK_DIR = flags.DEFINE_string(
    "work_dir",
    os.path.join(os.path.expanduser("~"), ".cache", "tf_compact_bench"),
    "Cache of the short teachers and of an unfinished run's students.",
)

#: Flags that change what a run measures: the key of its saved students
#: (`--seeds`, `--name`, `--rerun` and where files go are not).
SETTINGS = (
    "teacher",
    "teacher_epochs",
    "epochs",
    "latency_fraction",
    "match_tolerance",
    "match",
    "max_bisection_steps",
    "round_to",
    "scope",
    "threads",
    "runs",
    "repeats",
    "temperature",
    "batch_size",
    "limit",
    "recalibrate_bn",
)


def _data():
    import tf_compact as tfc

    return tfc.data.load(
        "fashion_mnist", batch_size=BATCH_SIZE.value, limit=LIMIT.value, seed=0
    )


def _ce():
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _build(bundle):
    import tf_compact as tfc

    if TEACHER.value == "vgg":
        return tfc.models.vgg()
    return tfc.models.mobilenet_v2(
        input_shape=bundle.input_shape,
        num_classes=bundle.num_classes,
        width_multiplier=0.5,
        last_channels=640,
    )


def _teacher(bundle):
    """`(teacher, record)`: the converged one if cached, else a short one."""
    import keras

    import tf_compact as tfc

    try:
        record, folder = common.teacher_record(TEACHER.value)
    except FileNotFoundError:
        record = None
    if record is not None:
        model = common.load_teacher(TEACHER.value)
        return model, {
            "kind": "converged",
            "folder": os.path.basename(folder),
            "cached": True,
        }
    name = f"latency_{TEACHER.value}_e{TEACHER_EPOCHS.value}"
    name += f"_b{BATCH_SIZE.value}_s0"
    name += f"_n{LIMIT.value}" if LIMIT.value else ""
    name += "_bn" if RECALIBRATE.value else ""
    path = os.path.join(WORK_DIR.value, name + ".keras")
    kind = (
        f"short: {TEACHER_EPOCHS.value} epoch(s) of Adam on "
        f"{LIMIT.value or 'all'} training images, not converged"
    )
    if os.path.exists(path):
        model = keras.saving.load_model(path, compile=False)
        return model, {"kind": kind, "cached": True}
    keras.utils.set_random_seed(0)
    teacher = _build(bundle)
    teacher.compile(keras.optimizers.Adam(1e-3), _ce(), metrics=["accuracy"])
    teacher.fit(bundle.train, epochs=TEACHER_EPOCHS.value, verbose=2)
    if RECALIBRATE.value:
        tfc.sparsity.recalibrate_batch_norm(teacher, bundle.train)
    os.makedirs(WORK_DIR.value, exist_ok=True)
    teacher.save(path)
    return teacher, {"kind": kind, "cached": False}


def _finished(path):
    """Whether `path` holds a result of this command (`--rerun` aside) on
    the converged teacher cached now."""
    if not os.path.exists(path):
        return False
    with open(path, encoding="utf-8") as f:
        payload = json.load(f)

    def command(text):
        return text.replace(" --rerun", "")

    recorded = payload.get("run", {}).get("command", "")
    if command(recorded) != command(common.run_record()["command"]):
        return False
    try:
        folder = os.path.basename(common.teacher_record(TEACHER.value)[1])
    except FileNotFoundError:
        return False
    return payload.get("teacher", {}).get("folder") == folder


def _copy(model):
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _accuracy(model, bundle):
    model.compile(loss=_ce(), metrics=["accuracy"])
    return float(
        model.evaluate(bundle.test, verbose=0, return_dict=True)["accuracy"]
    )


def _fine_tune(teacher, student, bundle, seed):
    import keras

    import tf_compact as tfc

    keras.utils.set_random_seed(seed)
    distiller = tfc.Distiller(
        _copy(teacher),
        _copy(student),
        [tfc.LogitsKD(TEMPERATURE.value)],
        student_loss_weight=0.5,
    )
    distiller.compile(keras.optimizers.Adam(1e-3), _ce(), metrics=["accuracy"])
    start = time.time()
    distiller.fit(bundle.train, epochs=EPOCHS.value, verbose=2)
    if RECALIBRATE.value:
        tfc.sparsity.recalibrate_batch_norm(distiller.student, bundle.train)
    return distiller.student, time.time() - start


def _run_dir(teacher_info, seed=None):
    """Where this run's students are saved: one folder per teacher and
    settings, a subfolder per fine-tune seed."""
    settings = {name: flags.FLAGS[name].value for name in SETTINGS}
    folder = common.seed_work_dir(
        WORK_DIR.value,
        ("latency_budget",),
        settings,
        teacher_info.get("folder", "short"),
        0 if seed is None else seed,
    )
    return os.path.dirname(folder) if seed is None else folder


def _load(folder, name):
    import keras

    path = os.path.join(folder, f"{name}.keras")
    return keras.saving.load_model(path, compile=False)


def _students(teacher, teacher_info, shape, target):
    """`(by_latency, by_macs, target_macs, steps)`: pruned here, or read
    back from an interrupted run of the same settings."""
    import tf_compact as tfc
    from tf_compact.pruning.masks import reused_sensitivity_tables

    folder = _run_dir(teacher_info)
    record = os.path.join(folder, "students.json")
    if os.path.exists(record):
        with open(record, encoding="utf-8") as f:
            saved = json.load(f)
        print(f"students read back from {folder}")
        by_latency, by_macs = _load(folder, "latency"), _load(folder, "macs")
        return by_latency, by_macs, saved["target_macs"], saved["steps"]
    with reused_sensitivity_tables():
        by_latency = tfc.prune(
            teacher,
            target_latency=target,
            num_threads=THREADS.value,
            **shape,
        )
        by_macs, target_macs, steps = _match_macs(teacher, by_latency, shape)
    os.makedirs(folder, exist_ok=True)
    by_latency.save(os.path.join(folder, "latency.keras"))
    by_macs.save(os.path.join(folder, "macs.keras"))
    # Written last: its presence says both students are whole.
    common.write_json(record, {"target_macs": target_macs, "steps": steps})
    return by_latency, by_macs, target_macs, steps


def _tuned(teacher, student, bundle, arm, seed, teacher_info):
    """`(model, accuracy, seconds)` of one arm's fine-tune for `seed`:
    run here, or read back from an interrupted run of the same settings."""
    folder = _run_dir(teacher_info, seed)
    record = os.path.join(folder, f"{arm}.json")
    if os.path.exists(record):
        with open(record, encoding="utf-8") as f:
            saved = json.load(f)
        print(f"{arm} arm, seed {seed}: read back from {folder}")
        return _load(folder, arm), saved["accuracy"], saved["seconds"]
    tuned, seconds = _fine_tune(teacher, student, bundle, seed)
    accuracy = _accuracy(tuned, bundle)
    os.makedirs(folder, exist_ok=True)
    tuned.save(os.path.join(folder, f"{arm}.keras"))
    common.write_json(record, {"accuracy": accuracy, "seconds": seconds})
    return tuned, accuracy, seconds


_RUNNERS = {}


def _runner(model):
    """The model's float32 TFLite interpreter, converted once per model."""
    from tf_compact.internal import interpreter

    key = id(model)
    if key not in _RUNNERS:
        content = interpreter.to_tflite(model)
        _RUNNERS[key] = (
            model,
            interpreter.make_interpreter(content, THREADS.value)[0],
        )
    return _RUNNERS[key][1]


def _latencies(models, repeats=None):
    """Interleaved measurements of every model; each one's best (ms)."""
    from tf_compact.internal import interpreter

    runners = {name: _runner(model) for name, model in models.items()}
    best = {}
    for _ in range(repeats or REPEATS.value):
        for name, runner in runners.items():
            ms = interpreter.time_invoke(runner, RUNS.value, 5, 1)
            best[name] = min(best.get(name, ms), ms)
    return best


def _widths(model):
    import tf_compact as tfc

    return {g.name: g.size for g in tfc.ChannelGraph(model).groups}


def _cost(model):
    import tf_compact as tfc

    macs, params = tfc.estimate_slim_cost(model)
    return int(macs), int(params)


def _match_macs(teacher, by_latency, shape):
    """The MACs-pruned model whose measured latency matches `by_latency`'s.

    Bisection on `target_macs`; each step measures the candidate and the
    latency-pruned model interleaved (so load on the machine hits both).
    `shape` holds the `tfc.prune` arguments both arms share (`round_to`,
    `scope` and its `data`).
    Returns `(model, target_macs, steps)`; the closest candidate is kept
    when the tolerance is not reached within the step cap.
    """
    import tf_compact as tfc

    low, high = 0.0, 1.0
    best, steps = None, []
    fraction = _cost(by_latency)[0] / _cost(teacher)[0]
    for _ in range(MAX_STEPS.value):
        candidate = tfc.prune(teacher, target_macs=fraction, **shape)
        ms = _latencies(
            {"latency": by_latency, "macs": candidate},
            repeats=max(2, REPEATS.value // 2),
        )
        gap = ms["macs"] / ms["latency"] - 1.0
        steps.append(
            {
                "target_macs": fraction,
                "macs_ms": ms["macs"],
                "latency_ms": ms["latency"],
                "gap": gap,
            }
        )
        print(f"bisection: target_macs={fraction:.4f} gap={gap:+.3%}")
        if best is None or _closer(gap, best[2]):
            best = (candidate, fraction, gap)
        at_least = gap >= 0 or MATCH.value != "at_least"
        if abs(gap) <= TOLERANCE.value and at_least:
            break
        if gap > 0:
            high = fraction
        else:
            low = fraction
        fraction = 0.5 * (low + high)
    return best[0], best[1], steps


def _closer(gap, best_gap):
    """Whether a candidate `gap` matches better than `best_gap`: with
    `--match=at_least`, one at or above the latency arm beats one below
    it, then the smaller gap wins."""
    if MATCH.value == "at_least" and (gap >= 0) != (best_gap >= 0):
        return gap >= 0
    return abs(gap) < abs(best_gap)


def _mean(values):
    return sum(values) / len(values)


def _markdown(payload):
    run, arms = payload["run"], payload["arms"]
    teacher = payload["teacher"]
    lines = [
        f"# Latency budget vs MACs budget at equal measured latency "
        f"({payload['teacher_name']}, Fashion-MNIST)",
        "",
        f"`{run['command']}`",
        "",
        f"Machine: {run['machine']}; commit `{run['git_sha']}`; "
        f"{payload['threads']} interpreter thread(s), "
        f"{payload['runtime']}; training images: "
        f"{payload['limit'] or 'all'}.",
        "",
        f"Teacher ({teacher['kind']}): accuracy {teacher['accuracy']:.4f}, "
        f"{teacher['macs']:,} MACs, {teacher['params']:,} params, "
        f"{teacher['latency_ms']:.4f} ms.",
        "",
        f"Latency table: {payload['table']['seconds']:.1f} s to build; "
        f"measured unpruned {payload['table']['model_ms']:.4f} ms. "
        f"MACs bisection: {len(payload['bisection'])} step(s), final gap "
        f"{payload['bisection_gap']:+.1%} (tolerance "
        f"{payload['match_tolerance']:.0%}, match "
        f"{payload.get('match', 'closest')}).",
        "",
        "| arm | budget | accuracy (mean) | accuracy per seed | MACs | params "
        "| latency ms | predicted ms | widths |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, arm in arms.items():
        widths = ", ".join(f"{k}={v}" for k, v in arm["widths"].items())
        seeds = ", ".join(f"{a:.4f}" for a in arm["accuracies"])
        lines.append(
            f"| {name} | {arm['budget']} | {arm['accuracy']:.4f} | {seeds} "
            f"| {arm['macs']:,} | {arm['params']:,} | "
            f"{arm['latency_ms']:.4f} | {arm['predicted_ms']:.4f} | "
            f"{widths} |"
        )
    diff = payload["accuracy_difference"]
    lines += [
        "",
        f"Latency-targeted minus MACs-targeted accuracy: "
        f"{diff['mean'] * 100:+.2f} pp (mean of {len(payload['seeds'])} "
        "seed(s)"
        + (
            f", standard error {diff['se'] * 100:.2f} pp"
            if diff["se"] is not None
            else ""
        )
        + "). Same KD fine-tune for both "
        f"({payload['epochs']} epoch(s), `tfc.LogitsKD`, seeds "
        f"{', '.join(str(s) for s in payload['seeds'])}). Latency: best of "
        f"{payload['repeats']} interleaved medians of {payload['runs']} "
        "invokes of the fine-tuned students.",
        "",
    ]
    return "\n".join(lines)


def main(argv):
    del argv
    import keras

    from tf_compact.internal import interpreter
    from tf_compact.pruning.latency import build_latency_table

    seeds = [int(s) for s in SEEDS.value]
    name = NAME.value or TEACHER.value
    path = common.result_path(RESULTS.value, name, ".json")
    if not RERUN.value and _finished(path):
        print(f"{path}: made by this command on this teacher, kept")
        return
    bundle = _data()
    teacher, teacher_info = _teacher(bundle)
    teacher_ms = _latencies({"teacher": teacher})["teacher"]
    start = time.time()
    table = build_latency_table(
        teacher, num_threads=THREADS.value, round_to=ROUND_TO.value
    )
    table_seconds = time.time() - start
    target = LATENCY_FRACTION.value * teacher_ms
    shape = {"round_to": ROUND_TO.value, "scope": SCOPE.value}
    if SCOPE.value == "sensitivity":
        shape["data"] = bundle.train.take(8)
    by_latency, by_macs, target_macs, steps = _students(
        teacher, teacher_info, shape, target
    )
    students = {"latency": by_latency, "macs": by_macs}
    budgets = {
        "latency": f"target_latency={target:.4f} ms",
        "macs": f"target_macs={target_macs:.4f}",
    }
    arms = {}
    tuned_models = {}
    for arm, student in students.items():
        accuracies, seconds = [], []
        for seed in seeds:
            tuned, accuracy, fit_seconds = _tuned(
                teacher, student, bundle, arm, seed, teacher_info
            )
            accuracies.append(accuracy)
            seconds.append(fit_seconds)
            tuned_models[arm] = tuned
        macs, params = _cost(student)
        widths = _widths(student)
        arms[arm] = {
            "budget": budgets[arm],
            "accuracy": _mean(accuracies),
            "accuracies": accuracies,
            "macs": macs,
            "params": params,
            "widths": widths,
            "predicted_ms": table.predict(widths),
            "fine_tune_seconds": seconds,
        }
    latencies = _latencies({"teacher": teacher, **tuned_models})
    for arm in arms:
        arms[arm]["latency_ms"] = latencies[arm]
    differences = [
        a - b
        for a, b in zip(
            arms["latency"]["accuracies"], arms["macs"]["accuracies"]
        )
    ]
    mean, se = common.paired(differences)
    macs, params = _cost(teacher)
    payload = {
        "teacher_name": TEACHER.value,
        "scope": SCOPE.value,
        "threads": THREADS.value,
        "runtime": interpreter.runtime_name(),
        "runs": RUNS.value,
        "repeats": REPEATS.value,
        "epochs": EPOCHS.value,
        "teacher_epochs": TEACHER_EPOCHS.value,
        "limit": LIMIT.value,
        "seeds": seeds,
        "latency_fraction": LATENCY_FRACTION.value,
        "match_tolerance": TOLERANCE.value,
        "teacher": {
            "accuracy": _accuracy(_copy(teacher), bundle),
            "macs": macs,
            "params": params,
            "latency_ms": latencies["teacher"],
            **teacher_info,
        },
        "table": {"seconds": table_seconds, "model_ms": table.model_ms},
        "bisection": steps,
        "match": MATCH.value,
        # The gap of the candidate kept, not the smallest one seen.
        "bisection_gap": next(
            s["gap"] for s in steps if s["target_macs"] == target_macs
        ),
        "arms": arms,
        "accuracy_difference": {"mean": mean, "se": se},
        "latency_arm_at_least_as_accurate": bool(mean >= 0),
    }
    common.write_json(path, payload)
    with open(path, encoding="utf-8") as f:
        payload = json.load(f)
    common.write_text(
        common.result_path(RESULTS.value, name, ".md"), _markdown(payload)
    )
    keras.backend.clear_session()
    print(_markdown(payload))


if __name__ == "__main__":
    app.run(main)
