"""Method ablations on converged teachers: what each paper compares, run
with tf_compact's public API on a teacher from `benchmarks/teachers.py`
(`common.load_teacher`), over seeds.

`--ablation` picks one (its default teacher in brackets):

1. `lee2019` (Lee et al., Sensors 2019; `vgg`): proximal group lasso alone
   (`tfc.Sparsifier`), group lasso + logits KD (`tfc.Distiller`), and group
   lasso + KD with the strength steered by the student/teacher gap
   (`tfc.callbacks.SparsityController`), each for `--epochs`. Every arm is
   then pruned by group norm to the same `--target_macs` (`tfc.prune`),
   its BN statistics recalibrated, and KD fine-tuned for
   `--finetune_epochs`: accuracy after slimming and after the fine-tune.
2. `jaiswal2019` (Jaiswal & Gajjar 2019; `vgg`): the simplified teacher
   (`tfc.lighten.width(teacher, --width)`, fresh weights) trained with
   logits KD against the same student trained from scratch.
3. `ahmed2020` (Ahmed et al. 2020; `mobilenet_v2`): KD + proximal group
   lasso steered by `tfc.callbacks.BudgetController` to `--target_macs`
   with one budget per block (`blocks="auto"`) against one global budget;
   threshold slim, KD fine-tune; each block's MACs fraction.
4. `pei2024` (Pei et al. 2024; `vgg`): int8 TFLite accuracy of the teacher
   itself after post-training quantization, after QAT (`tfc.lite.qat`) and
   after QAT distilled from the float teacher, both QAT arms for
   `--epochs`; the float accuracy is the teacher's row.
5. `chen2020` (Chen et al. 2020; `vgg`): the recipe step by step: lighten
   (GAP head fitted on training batches, separable convolutions),
   multi-level transfer (feature + logits KD, `--epochs`), global
   iterative pruning with KD to `--target_params` of the teacher's
   parameters (at most `--prune_epochs` rounds of one epoch), KD
   fine-tune; 1-thread float32 TFLite latency of every step.

Every arm of an ablation gets the same student epochs and its own freshly
seeded copy of the data (seed plus the arm's number); every accuracy is
measured in inference mode on the test split. A seed's arms are saved as
they finish in
`benchmarks/results/ablations/<ablation>/<teacher>/seed<N>.json`: a rerun
skips finished seeds and arms and retries an arm that failed (its error is
recorded until it succeeds); a seed run with other settings (the flags in
`RECORDED`) is run again. `summary.md` beside them gives the mean and
standard error of each arm over the seeds, its MACs and params as
fractions of the teacher's, and the paired differences of the arms the
paper compares. One command per ablation (seeds 0, 1, 2 by default):

```shell
python benchmarks/bench_ablations.py --ablation=lee2019 --teacher=vgg
python benchmarks/bench_ablations.py --ablation=jaiswal2019 --teacher=vgg
python benchmarks/bench_ablations.py --ablation=ahmed2020 --teacher=mobilenet_v2
python benchmarks/bench_ablations.py --ablation=pei2024 --teacher=vgg
python benchmarks/bench_ablations.py --ablation=chen2020 --teacher=vgg
```
"""

import json
import os
import time

import common
from absl import app
from absl import flags

#: Per ablation: default teacher and MACs target, the arms in run order
#: (key, label), the paired comparisons (arm, against arm) and the extra
#: row fields shown in the summary (field, header, unit).
ABLATIONS = {
    "lee2019": {
        "teacher": "vgg",
        "target_macs": 0.25,
        "budget": (
            "Every arm: {epochs} epochs of group-sparse training, pruned "
            "by group norm to {target_macs:.0%} of the teacher's MACs, BN "
            "recalibrated, {finetune_epochs} epochs of KD fine-tune."
        ),
        "arms": (
            ("gl", "group lasso"),
            ("gl_kd", "group lasso + KD"),
            ("gl_kd_ctrl", "group lasso + KD + SparsityController"),
        ),
        "pairs": (
            ("gl_kd", "gl"),
            ("gl_kd_ctrl", "gl_kd"),
            ("gl_kd_ctrl", "gl"),
        ),
        "extras": (("accuracy_slim", "after slim", "%"),),
    },
    "jaiswal2019": {
        "teacher": "vgg",
        "budget": (
            "Student: the teacher at width {width:g}, fresh weights; "
            "{epochs} epochs per arm."
        ),
        "arms": (
            ("kd", "simplified teacher + logits KD"),
            ("scratch", "simplified teacher from scratch"),
        ),
        "pairs": (("kd", "scratch"),),
        "extras": (),
    },
    "ahmed2020": {
        "teacher": "mobilenet_v2",
        "target_macs": 0.5,
        "budget": (
            "Every arm: {epochs} epochs of KD + group lasso steered to "
            "{target_macs:.0%} of the teacher's MACs, threshold slim, "
            "{finetune_epochs} epochs of KD fine-tune."
        ),
        "arms": (
            ("per_block", "per-block budgets"),
            ("global", "one global budget"),
        ),
        "pairs": (("per_block", "global"),),
        "extras": (("threshold", "prune threshold", "g"),),
    },
    "pei2024": {
        "teacher": "vgg",
        "budget": (
            "The teacher itself in int8 TFLite; {epochs} QAT epochs per "
            "QAT arm."
        ),
        "arms": (
            ("ptq", "int8 post-training quantization"),
            ("qat", "int8 QAT"),
            ("kd_qat", "int8 QAT + KD from the float teacher"),
        ),
        "pairs": (("qat", "ptq"), ("kd_qat", "qat"), ("kd_qat", "ptq")),
        "extras": (("int8_kib", "int8 KiB", "g"),),
    },
    "chen2020": {
        "teacher": "vgg",
        "budget": (
            "{epochs} transfer epochs, {prune_epochs} pruning rounds of one "
            "epoch to {target_params:.2%} of the teacher's params, "
            "{finetune_epochs} fine-tune epochs; 1-thread float32 TFLite."
        ),
        "arms": (
            ("lightened", "lightened (GAP head + separable), untrained"),
            ("transfer", "multi-level transfer (feature + logits KD)"),
            ("pruned", "global iterative pruning with KD"),
            ("finetune", "KD fine-tune"),
        ),
        "pairs": (("pruned", "transfer"), ("finetune", "pruned")),
        "extras": (
            ("float32_ms", "float32 ms", "g"),
            ("speedup", "speed-up", "g"),
            ("params_reduction", "params ÷", "g"),
            ("epochs", "epochs", "g"),
        ),
    },
}
#: Training batches each BN recalibration runs (forward passes only).
RECALIBRATION_BATCHES = 100

ABLATION = flags.DEFINE_enum(
    "ablation", "lee2019", sorted(ABLATIONS), "Which ablation to run."
)
TEACHER = flags.DEFINE_string(
    "teacher",
    None,
    "Teacher from benchmarks/teachers.py (unset: the ablation's default).",
)
SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to run.")
EPOCHS = flags.DEFINE_integer(
    "epochs", 3, "Student epochs of every arm's main stage.", lower_bound=1
)
FINETUNE = flags.DEFINE_integer(
    "finetune_epochs", 1, "KD fine-tune epochs after slimming.", lower_bound=0
)
PRUNE_EPOCHS = flags.DEFINE_integer(
    "prune_epochs",
    4,
    "chen2020: iterative pruning rounds (1 epoch each).",
    lower_bound=1,
)
TARGET_MACS = flags.DEFINE_float(
    "target_macs",
    None,
    "lee2019 / ahmed2020: MACs kept, a fraction of the "
    "teacher's (unset: 0.25 / 0.5).",
    lower_bound=1e-6,
    upper_bound=1.0,
)
TARGET_PARAMS = flags.DEFINE_float(
    "target_params",
    1 / 49.5,
    "chen2020: params kept, a fraction of the teacher's.",
    lower_bound=1e-6,
    upper_bound=1.0,
)
WIDTH = flags.DEFINE_float(
    "width",
    0.5,
    "jaiswal2019: width multiplier of the simplified teacher.",
    lower_bound=1e-3,
    upper_bound=1.0,
)
STRENGTH = flags.DEFINE_float(
    "strength", 1e-4, "Initial group-lasso strength.", lower_bound=0.0
)
LEARNING_RATE = flags.DEFINE_float(
    "learning_rate", 1e-3, "Peak Adam learning rate of each stage (cosine)."
)
QAT_LR = flags.DEFINE_float("qat_learning_rate", 1e-4, "pei2024: QAT rate.")
TEMPERATURE = flags.DEFINE_float("temperature", 4.0, "KD temperature.")
STUDENT_WEIGHT = flags.DEFINE_float(
    "student_loss_weight",
    0.5,
    "Weight of the label loss in KD.",
    lower_bound=0.0,
    upper_bound=1.0,
)
LATENCY_RUNS = flags.DEFINE_integer(
    "latency_runs", 200, "chen2020: invokes per latency timing.", lower_bound=10
)
LIMIT = flags.DEFINE_integer("limit", None, "Cap on examples (quick runs).")
RESULTS = flags.DEFINE_string(
    "results_dir", common.RESULTS_DIR, "Where to write the results."
)
TEACHERS_DIR = flags.DEFINE_string(
    "teachers_dir", None, "Where the teachers are cached (unset: common's)."
)
WORK_DIR = flags.DEFINE_string(
    "work_dir", "/tmp/tf_compact_bench_ablations", "Models between steps."
)

#: Flags that change results (recorded in the command); the others only
#: say where files go.
RECORDED = (
    "ablation",
    "teacher",
    "epochs",
    "finetune_epochs",
    "prune_epochs",
    "target_macs",
    "target_params",
    "width",
    "strength",
    "learning_rate",
    "qat_learning_rate",
    "temperature",
    "student_loss_weight",
    "latency_runs",
    "limit",
)


def _command(seed=None):
    text = common.command("benchmarks/bench_ablations.py", RECORDED)
    return text if seed is None else f"{text} --seeds={seed}"


def teacher_name(ablation, teacher=None):
    """`teacher`, or the ablation's default teacher when it is unset."""
    return teacher or ABLATIONS[ablation]["teacher"]


def target_macs(ablation, value=None):
    """`value`, or the ablation's default MACs target when it is unset."""
    return (
        value if value is not None else ABLATIONS[ablation].get("target_macs")
    )


def _folder():
    name = teacher_name(ABLATION.value, TEACHER.value)
    return os.path.join(RESULTS.value, "ablations", ABLATION.value, name)


# Measuring and training helpers.


def _row(model, bundle, latency=False):
    """Accuracy (inference mode), MACs, params [, 1-thread latency]."""
    import tf_compact as tfc
    from tf_compact.pipeline import training

    row = {
        "accuracy": float(training.accuracy(model, bundle.test)),
        "macs": int(tfc.profile(model).macs),
        "params": int(model.count_params()),
    }
    if latency:
        data = tfc.lite.convert(model, mode="float32")
        bench = tfc.lite.benchmark(data, num_threads=1, runs=LATENCY_RUNS.value)
        row["float32_ms"] = bench.median_ms
        row["runtime"] = f"{bench.runtime}/{bench.delegate}"
    return row


def _compile(trainer, student, bundle, epochs):
    import keras

    trainer.compile(
        optimizer=keras.optimizers.Adam(
            common.rate(LEARNING_RATE.value, bundle, epochs)
        ),
        loss=common.loss(student),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def _kd_losses(multi_level=False):
    import tf_compact as tfc

    losses = [tfc.LogitsKD(temperature=TEMPERATURE.value)]
    if multi_level:
        # Pairs the last layer of each resolution both models produce.
        losses.append(tfc.FeatureKD())
    return losses


def _distiller(teacher, student, losses=None, sparsity=None):
    import tf_compact as tfc

    return tfc.Distiller(
        teacher,
        student,
        losses or _kd_losses(),
        student_loss_weight=STUDENT_WEIGHT.value,
        sparsity=sparsity,
    )


def _kd(teacher, student, bundle, epochs, multi_level=False):
    """KD of `student` (in place) for `epochs`; returns it."""
    if epochs:
        distiller = _distiller(teacher, student, _kd_losses(multi_level))
        _compile(distiller, student, bundle, epochs)
        distiller.fit(bundle.train, epochs=epochs, verbose=2)
    return student


def _recalibrate(model, bundle):
    from tf_compact.sparsity import recalibrate_batch_norm

    recalibrate_batch_norm(
        model, bundle.train, max_batches=RECALIBRATION_BATCHES
    )
    return model


def _update_every(bundle):
    from tf_compact.pipeline import training

    return max(1, (training.steps_per_epoch(bundle.train) or 100) // 8)


def _finish_sparse(teacher, slim, bundle):
    """Recalibrated slim model: its row, KD fine-tuned and recalibrated."""
    _recalibrate(slim, bundle)
    before = _row(slim, bundle)["accuracy"]
    _kd(teacher, slim, bundle, FINETUNE.value)
    row = _row(_recalibrate(slim, bundle), bundle)
    row["accuracy_slim"] = before
    row["epochs"] = EPOCHS.value + FINETUNE.value
    return row


# The arms of each ablation: `arm(key, teacher, bundle, ctx)` returns the
# arm's row, or `(row, model)` when a later arm starts from the model.


def _lee2019(key, teacher, bundle, ctx):
    import tf_compact as tfc

    student = common.copy_model(teacher)
    penalty = tfc.GroupLasso(strength=STRENGTH.value, proximal=True)
    if key == "gl":
        trainer = tfc.Sparsifier(student, sparsity=penalty)
    else:
        trainer = _distiller(teacher, student, sparsity=penalty)
    callbacks = []
    if key == "gl_kd_ctrl":
        x, y = bundle.val_arrays()
        callbacks.append(
            tfc.callbacks.SparsityController(
                data=(x[:512], y[:512]),
                metric="accuracy",
                update_every=_update_every(bundle),
            )
        )
    _compile(trainer, student, bundle, EPOCHS.value)
    trainer.fit(
        bundle.train, epochs=EPOCHS.value, callbacks=callbacks, verbose=2
    )
    slim = tfc.prune(student, target_macs=ctx["target_macs"], importance="l2")
    row = _finish_sparse(teacher, slim, bundle)
    row["strength"] = float(penalty.strength.numpy())
    return row


def _jaiswal2019(key, teacher, bundle, ctx):
    import keras

    import tf_compact as tfc

    shape = tfc.lighten.width(teacher, WIDTH.value, reinitialize=True)
    if key == "scratch":
        model = common.arm_scratch(
            shape, bundle, EPOCHS.value, LEARNING_RATE.value
        )
    else:
        model = _kd(
            teacher, keras.models.clone_model(shape), bundle, EPOCHS.value
        )
    row = _row(model, bundle)
    row["epochs"] = EPOCHS.value
    return row


def _ahmed2020(key, teacher, bundle, ctx):
    import tf_compact as tfc

    student = common.copy_model(teacher)
    penalty = tfc.GroupLasso(strength=STRENGTH.value, proximal=True)
    budget = tfc.callbacks.BudgetController(
        target_macs=ctx["target_macs"],
        blocks="auto" if key == "per_block" else None,
        update_every=_update_every(bundle),
    )
    distiller = _distiller(teacher, student, sparsity=penalty)
    _compile(distiller, student, bundle, EPOCHS.value)
    distiller.fit(
        bundle.train, epochs=EPOCHS.value, callbacks=[budget], verbose=2
    )
    slim = tfc.prune(student, threshold=budget.threshold)
    blocks = common.block_fractions(student, slim)
    row = _finish_sparse(teacher, slim, bundle)
    row.update(blocks=blocks, threshold=float(budget.threshold))
    return row


def _pei2024(key, teacher, bundle, ctx):
    import tf_compact as tfc

    if key == "ptq":
        data = tfc.lite.convert(
            teacher, mode="int8", representative_data=bundle.train
        )
    else:
        data = tfc.lite.qat(
            teacher,
            bundle.train,
            epochs=EPOCHS.value,
            teacher=teacher if key == "kd_qat" else None,
            learning_rate=QAT_LR.value,
            temperature=TEMPERATURE.value,
        )
    interpreter, _ = tfc.lite.make_interpreter(bytes(data))
    return {
        "accuracy": float(tfc.lite.accuracy_of(interpreter, bundle.test)),
        "macs": ctx["teacher"]["macs"],
        "params": ctx["teacher"]["params"],
        "int8_kib": len(data) / 1024,
        "epochs": 0 if key == "ptq" else EPOCHS.value,
    }


def _chen2020(key, teacher, bundle, ctx):
    import tf_compact as tfc

    epochs, extra = 0, {}
    if key == "lightened":
        # The GAP head is fitted by least squares on training batches.
        head = tfc.lighten.gap_head(teacher, data=bundle.train)
        model = tfc.lighten.separable(head)
    elif key == "transfer":
        epochs = EPOCHS.value
        model = _kd(teacher, ctx["model"]("lightened"), bundle, epochs, True)
    elif key == "pruned":
        model, extra = _iterative(teacher, ctx["model"]("transfer"), bundle)
        epochs = extra["rounds"]
    elif key == "finetune":
        epochs = FINETUNE.value
        model = _kd(teacher, ctx["model"]("pruned"), bundle, epochs, True)
    else:
        raise ValueError(f"Unknown chen2020 step {key!r}.")
    row = _row(model, bundle, latency=True)
    row.update(
        epochs=epochs,
        speedup=ctx["teacher"]["float32_ms"] / row["float32_ms"],
        params_reduction=ctx["teacher"]["params"] / row["params"],
        **extra,
    )
    return row, model


def _iterative(teacher, student, bundle):
    """Global iterative pruning with KD to `--target_params` of the teacher."""
    import keras

    import tf_compact as tfc

    target = max(2, round(TARGET_PARAMS.value * teacher.count_params()))
    if student.count_params() <= target:
        return student, {"rounds": 0, "target_params": target}
    rounds = PRUNE_EPOCHS.value
    keep = target / student.count_params()
    slim, log = tfc.iterative_prune(
        student,
        bundle.train,
        target_params=target,
        fraction=min(0.9, 1.0 - keep ** (1.0 / rounds)),
        epochs_per_round=1,
        max_rounds=rounds,
        teacher=teacher,
        distillation_losses=_kd_losses(multi_level=True),
        optimizer=keras.optimizers.Adam(LEARNING_RATE.value / 2),
        loss=common.loss(student),
        verbose=2,
    )
    return slim, {"rounds": len(log), "target_params": target}


ARM_FUNCTIONS = {
    "lee2019": _lee2019,
    "jaiswal2019": _jaiswal2019,
    "ahmed2020": _ahmed2020,
    "pei2024": _pei2024,
    "chen2020": _chen2020,
}


# Running the seeds.


def _seed_dir(seed):
    name = teacher_name(ABLATION.value, TEACHER.value)
    return os.path.join(WORK_DIR.value, ABLATION.value, name, f"seed{seed}")


def _settings():
    """The values of the flags that change results."""
    return {name: flags.FLAGS[name].value for name in RECORDED}


def _load_record(path, settings):
    """The finished record at `path`, or the arms of an unfinished one.

    A record made with other `settings` counts as absent.
    """
    if not os.path.exists(path):
        return None, {}
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if record.get("flags") != settings:
        print(f"{path}: made with other settings, run again")
        return None, {}
    arms = record.get("arms", {})
    if record.get("complete") and not any("error" in v for v in arms.values()):
        return record, arms
    # Arms that failed before run again.
    return None, {k: v for k, v in arms.items() if "error" not in v}


def _model_loader(seed, state):
    """`load(key)`: a trainable copy of the model arm `key` ended with."""
    import keras

    def load(key):
        if key not in state:
            path = os.path.join(_seed_dir(seed), f"{key}.keras")
            if not os.path.exists(path):
                raise ValueError(
                    f"Step {key!r} has no saved model in {_seed_dir(seed)}: "
                    "rerun the seed from its first step."
                )
            state[key] = keras.saving.load_model(path, compile=False)
        return common.copy_model(state[key])

    return load


def _run_arm(index, key, teacher, data, ctx, seed):
    """One arm's row; its error instead when it fails (others go on)."""
    start = time.time()
    try:
        out = ARM_FUNCTIONS[ABLATION.value](key, teacher, data(index), ctx)
        row, model = out if isinstance(out, tuple) else (out, None)
        if model is not None:
            ctx["state"][key] = model
            os.makedirs(_seed_dir(seed), exist_ok=True)
            model.save(os.path.join(_seed_dir(seed), f"{key}.keras"))
    except Exception as error:  # noqa: BLE001 - recorded, others go on
        row = {"error": f"{type(error).__name__}: {error}"}
    row["seconds"] = round(time.time() - start, 1)
    print(json.dumps({"seed": seed, "arm": key, **row}), flush=True)
    return row


def run_seed(seed, teacher, teacher_info):
    """Runs (or finishes) every arm of one seed; returns its record."""

    path = common.result_path(_folder(), f"seed{seed}", ".json")
    record, arms = _load_record(path, _settings())
    if record is not None:
        print(f"seed {seed}: cached in {path}")
        return record

    def data(offset):
        return common.seeded_data(seed, offset, LIMIT.value)

    spec = ABLATIONS[ABLATION.value]
    teacher_row = _row(teacher, data(0), latency=ABLATION.value == "chen2020")
    state = {}
    ctx = {
        "teacher": teacher_row,
        "target_macs": target_macs(ABLATION.value, TARGET_MACS.value),
        "state": state,
        "model": _model_loader(seed, state),
    }
    for index, (key, _) in enumerate(spec["arms"]):
        if key not in arms:
            arms[key] = _run_arm(index, key, teacher, data, ctx, seed)
            _save(path, seed, teacher_info, teacher_row, arms, False)
    return _save(path, seed, teacher_info, teacher_row, arms, True)


def _save(path, seed, teacher_info, teacher_row, arms, complete):
    payload = {
        "command": _command(seed),
        "run": common.run_record(),
        "flags": _settings(),
        "seed": seed,
        "ablation": ABLATION.value,
        "teacher_name": teacher_name(ABLATION.value, TEACHER.value),
        "target_macs": target_macs(ABLATION.value, TARGET_MACS.value),
        "teacher_info": teacher_info,
        "teacher": teacher_row,
        "arms": arms,
        "complete": complete,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2)
    _reindex()
    return payload


def _reindex():
    """Keeps benchmarks/results/INDEX.md in step with new result files."""
    if os.path.abspath(RESULTS.value) == os.path.abspath(common.RESULTS_DIR):
        import make_index

        make_index.main([])


# The summary.


def _mean(values):
    return sum(values) / len(values)


def _se(se, scale=1.0):
    return "" if se is None else f" ± {scale * se:.2f}"


def _yes(flag):
    return "yes" if flag else "no"


def _cell(values, unit):
    mean, se = common.paired(values)
    if unit == "%":
        return f"{100 * mean:.2f}%{_se(se, 100)}"
    return f"{mean:.4g}{_se(se) if unit != 'g' else ''}"


def _arm_lines(records, spec):
    extras = spec["extras"]
    teacher = [r["teacher"] for r in records]
    lines = [
        "| arm | accuracy | vs teacher (pp) | MACs fraction | params "
        "fraction | " + " | ".join(h for _, h, _ in extras) + " |",
        "|---|" + "---:|" * (4 + len(extras)),
        f"| teacher | {_cell([t['accuracy'] for t in teacher], '%')} | | "
        "100% | 100% | "
        + " | ".join(
            _cell([t[f] for t in teacher], u) if f in teacher[0] else ""
            for f, _, u in extras
        )
        + " |",
    ]
    for key, label in spec["arms"]:
        rows = [r["arms"].get(key, {}) for r in records]
        if any("accuracy" not in row for row in rows):
            continue
        gaps = [
            100 * (a["accuracy"] - t["accuracy"]) for a, t in zip(rows, teacher)
        ]
        gap, gap_se = common.paired(gaps)
        macs = _mean([a["macs"] / t["macs"] for a, t in zip(rows, teacher)])
        params = _mean(
            [a["params"] / t["params"] for a, t in zip(rows, teacher)]
        )
        cells = [
            _cell([row[f] for row in rows], u) if f in rows[0] else ""
            for f, _, u in extras
        ]
        lines.append(
            f"| {label} | {_cell([a['accuracy'] for a in rows], '%')} | "
            f"{gap:+.2f}{_se(gap_se)} | {macs:.1%} | {params:.1%} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def _pair_lines(records, spec):
    labels = dict(spec["arms"])
    lines = [
        "Paired differences in accuracy (pp, arm minus the arm it is "
        "compared with, over the same seeds); ahead means by at least two "
        "standard errors.",
        "",
        "| arm | against | difference | ahead |",
        "|---|---|---:|---|",
    ]
    for ours, base in spec["pairs"]:
        pairs = [
            (r["arms"].get(ours, {}), r["arms"].get(base, {})) for r in records
        ]
        if any("accuracy" not in a or "accuracy" not in b for a, b in pairs):
            continue
        diffs = [100 * (a["accuracy"] - b["accuracy"]) for a, b in pairs]
        mean, se = common.paired(diffs)
        ahead = "n/a (one seed)" if se is None else _yes(mean >= 2 * se)
        lines.append(
            f"| {labels[ours]} | {labels[base]} | {mean:+.2f}{_se(se)} | "
            f"{ahead} |"
        )
    return lines


def _block_lines(records, spec):
    lines = []
    for key, label in spec["arms"]:
        blocks = [r["arms"].get(key, {}).get("blocks") for r in records]
        if not blocks or any(b is None for b in blocks):
            continue
        text = ", ".join(
            f"{name} {_mean([b.get(name, 0.0) for b in blocks]):.1%}"
            for name in blocks[0]
        )
        lines.append(f"- {label}: {text}")
    if lines:
        lines = [
            "",
            "MACs fraction of each block after slimming (mean):",
            "",
        ] + lines
    return lines


def summarize(records, ablation, teacher, command):
    """The markdown summary of an ablation's seed records (pure function)."""
    spec = ABLATIONS[ablation]
    records = sorted(records, key=lambda r: r["seed"])
    first = records[0]
    lines = [
        f"Command: `{command}`",
        "",
        f"# Ablation {ablation}: {teacher} teacher",
        "",
        f"Seeds {', '.join(str(r['seed']) for r in records)}. "
        + spec["budget"].format(
            **{**first["flags"], "target_macs": first["target_macs"]}
        )
        + " Mean over seeds ± standard error; accuracy in inference mode "
        "on the test split.",
        "",
    ]
    lines += _arm_lines(records, spec) + [""] + _pair_lines(records, spec)
    lines += _block_lines(records, spec)
    labels = dict(spec["arms"])
    for record in records:
        for key, row in record["arms"].items():
            if "error" in row:
                lines.append(
                    f"\n{labels.get(key, key)} failed on seed "
                    f"{record['seed']}: {row['error']}"
                )
    return "\n".join(lines + [""])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    name = teacher_name(ABLATION.value, TEACHER.value)
    seeds = [int(s) for s in SEEDS.value]
    teacher_info, folder = common.teacher_record(name, TEACHERS_DIR.value)
    teacher = common.load_teacher(name, TEACHERS_DIR.value)
    teacher_info = {
        "folder": os.path.basename(folder),
        "test_accuracy": teacher_info.get("test_accuracy"),
        "command": teacher_info.get("run", {}).get("command"),
    }
    for seed in seeds:
        run_seed(seed, teacher, teacher_info)
    done = []
    for entry in sorted(os.listdir(_folder())):
        if entry.startswith("seed") and entry.endswith(".json"):
            with open(os.path.join(_folder(), entry), encoding="utf-8") as f:
                record = json.load(f)
            if record.get("complete") and record.get("flags") == _settings():
                done.append(record)
    done.sort(key=lambda r: r["seed"])
    all_seeds = ",".join(str(r["seed"]) for r in done)
    text = summarize(
        done, ABLATION.value, name, f"{_command()} --seeds={all_seeds}"
    )
    common.write_text(os.path.join(_folder(), "summary.md"), text)
    _reindex()
    print(text)


if __name__ == "__main__":
    app.run(main)
