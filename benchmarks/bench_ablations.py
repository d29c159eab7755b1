"""Method ablations on converged teachers: what each paper compares, run
with tf_compact's public API on a teacher from `benchmarks/teachers.py`
(`common.load_teacher`), over seeds.

`--ablation` picks one (its default teacher in brackets):

1. `lee2019` (Lee et al., Sensors 2019; `vgg`): proximal group lasso alone
   (`tfc.Sparsifier`), group lasso + logits KD (`tfc.Distiller`), and group
   lasso + KD with the strength steered by the student/teacher gap
   (`tfc.callbacks.SparsityController`), each for `--epochs`. Every arm is
   then pruned by group norm to the same `--target_macs` (`tfc.prune`),
   its BN statistics recalibrated, and fine-tuned for `--finetune_epochs`:
   with KD in the two KD arms, with plain cross-entropy (no teacher) in
   the group-lasso arm, which has no KD end to end. Accuracy after
   slimming and after the fine-tune.
2. `jaiswal2019` (Jaiswal & Gajjar 2019; `vgg`): the simplified teacher
   (`tfc.lighten.width(teacher, --width)`, fresh weights) trained with
   logits KD against the same student trained from scratch.
3. `ahmed2020` (Ahmed et al. 2020; `mobilenet_v2`): KD + proximal group
   lasso steered by `tfc.callbacks.BudgetController` with one budget per
   block (`blocks="auto"`) to `--target_macs` against one global budget;
   threshold slim, KD fine-tune; each block's MACs fraction. Per-block
   budgets compound, so the per-block arm runs first and the global arm
   is steered to the MACs fraction the per-block arm reached: both arms
   target the same MACs.
4. `pei2024` (Pei et al. 2024; `vgg`): int8 TFLite accuracy of the teacher
   itself after post-training quantization, after QAT (`tfc.lite.qat`) and
   after QAT distilled from the float teacher (KD weight
   `1 - --student_loss_weight`), both QAT arms for `--epochs`; the float
   accuracy is the teacher's row.
5. `chen2020` (Chen et al. 2020; `vgg`): the recipe step by step: lighten
   (GAP head fitted on training batches, separable convolutions),
   multi-level transfer (feature + logits KD, `--epochs`), global
   iterative pruning with KD to `--target_params` of the teacher's
   parameters (at most `--prune_epochs` rounds of one epoch), KD
   fine-tune; BN statistics recalibrated after every trained step;
   1-thread float32 TFLite latency of every step. The steps' models are
   kept in `--work_dir`, per teacher and settings; a resumed seed reruns
   a step whose model is missing there, and every step after it.

Every arm of an ablation gets the same student epochs and a fresh copy
of the same seeded data (one random stream per seed, shared by its arms);
every accuracy is measured in inference mode on the test split. A seed's
arms are saved as they finish in
`benchmarks/results/ablations/<ablation>/<teacher>/seed<N>.json`: a rerun
skips finished seeds and arms and retries an arm that failed (its error is
recorded until it succeeds), reusing the teacher's row measured first; a
seed run with other settings (the flags in `RECORDED`, resolved) or on
another teacher (a retrained one has a new folder) is run again.
`summary.md` beside them gives the mean and standard error of each arm
over the seeds where it has an accuracy, its MACs and params as fractions
of the teacher's, and the paired differences of the arms the paper
compares over the seeds where both have one. One command per ablation
(seeds 0, 1, 2 by default):

```shell
python benchmarks/bench_ablations.py --ablation=lee2019 --teacher=vgg
python benchmarks/bench_ablations.py --ablation=jaiswal2019 --teacher=vgg
python benchmarks/bench_ablations.py --ablation=ahmed2020 --teacher=mobilenet_v2
python benchmarks/bench_ablations.py --ablation=pei2024 --teacher=vgg
python benchmarks/bench_ablations.py --ablation=chen2020 --teacher=vgg
```
"""

import json
import math
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
            "recalibrated, {finetune_epochs} epochs of fine-tune: KD in "
            "the two KD arms, plain cross-entropy in group lasso alone "
            "(no KD anywhere in that arm)."
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
            "Every arm: {epochs} epochs of KD + group lasso, threshold "
            "slim, {finetune_epochs} epochs of KD fine-tune. The per-block "
            "arm, run first, is steered to {target_macs:.0%} of the "
            "teacher's MACs; the global arm to the MACs fraction the "
            "per-block arm reached (MACs target), so both arms target "
            "equal MACs."
        ),
        "arms": (
            ("per_block", "per-block budgets"),
            ("global", "one global budget"),
        ),
        "pairs": (("per_block", "global"),),
        "extras": (
            ("target_macs", "MACs target", "%"),
            ("threshold", "prune threshold", "g"),
        ),
    },
    "pei2024": {
        "teacher": "vgg",
        "budget": (
            "The teacher itself in int8 TFLite; {epochs} QAT epochs per "
            "QAT arm, KD weight 1 - {student_loss_weight:g} in KD QAT."
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
            "{finetune_epochs} fine-tune epochs, BN recalibrated after "
            "every trained step; 1-thread float32 TFLite."
        ),
        # Each step starts from the model the step before ended with.
        "chained": True,
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
SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to run (integers).")
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
    "chen2020: params kept, a fraction of the teacher's (rounded down).",
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
    "learning_rate",
    5e-3,
    "Peak Adam learning rate of each stage (cosine); the evidence and "
    "Torch-Pruning benchmarks' rate.",
    lower_bound=1e-9,
)
QAT_LR = flags.DEFINE_float(
    "qat_learning_rate", 1e-4, "pei2024: QAT rate.", lower_bound=1e-9
)
TEMPERATURE = flags.DEFINE_float(
    "temperature", 4.0, "KD temperature.", lower_bound=1e-3
)
STUDENT_WEIGHT = flags.DEFINE_float(
    "student_loss_weight",
    0.9,
    "Weight of the label loss in KD (the evidence benchmark's).",
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


def resolve_settings(values):
    """`values` (flag name to value) with the teacher and MACs target used."""
    out = dict(values)
    out["teacher"] = teacher_name(out["ablation"], out.get("teacher"))
    out["target_macs"] = target_macs(out["ablation"], out.get("target_macs"))
    return out


def parse_seeds(values):
    """The `--seeds` values as integers; a usage error names a bad one."""
    seeds = []
    for value in values:
        try:
            seeds.append(int(value))
        except ValueError:
            raise app.UsageError(
                f"--seeds takes comma-separated integers, got {value!r}."
            ) from None
    return seeds


def params_target(fraction, teacher_params):
    """Params kept: `fraction` of the teacher's, rounded down (at least 2)."""
    return max(2, math.floor(fraction * teacher_params))


def _settings():
    """The values of the flags that change results, as used."""
    return resolve_settings(
        {name: flags.FLAGS[name].value for name in RECORDED}
    )


def _folder(settings):
    return os.path.join(
        RESULTS.value, "ablations", settings["ablation"], settings["teacher"]
    )


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


def _finish_sparse(teacher, slim, bundle, kd=True):
    """Recalibrated slim model: its row, fine-tuned and recalibrated.

    The fine-tune is KD from `teacher`, or plain cross-entropy when `kd`
    is false.
    """
    _recalibrate(slim, bundle)
    before = _row(slim, bundle)["accuracy"]
    if kd:
        _kd(teacher, slim, bundle, FINETUNE.value)
    elif FINETUNE.value:
        common.fit(slim, bundle, FINETUNE.value, lr=LEARNING_RATE.value)
    row = _row(_recalibrate(slim, bundle), bundle)
    row["accuracy_slim"] = before
    row["epochs"] = EPOCHS.value + FINETUNE.value
    row["finetune"] = "KD" if kd else "cross-entropy"
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
    # Group lasso alone has no KD end to end: plain fine-tune.
    row = _finish_sparse(teacher, slim, bundle, kd=key != "gl")
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


def ahmed2020_target(key, ctx):
    """The arm's MACs target: the flag's for per-block budgets; for the
    global budget, the MACs fraction the per-block arm reached."""
    if key == "per_block":
        return ctx["target_macs"]
    per_block = ctx["arms"].get("per_block", {})
    if "macs" not in per_block or "error" in per_block:
        raise ValueError(
            "The global arm is steered to the per-block arm's MACs, and "
            "the per-block arm has no result."
        )
    return per_block["macs"] / ctx["teacher"]["macs"]


def _ahmed2020(key, teacher, bundle, ctx):
    import tf_compact as tfc

    target = ahmed2020_target(key, ctx)
    student = common.copy_model(teacher)
    penalty = tfc.GroupLasso(strength=STRENGTH.value, proximal=True)
    budget = tfc.callbacks.BudgetController(
        target_macs=target,
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
    row.update(
        blocks=blocks, threshold=float(budget.threshold), target_macs=target
    )
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
            # `alpha` weighs the KD term, cross-entropy gets the rest.
            alpha=1.0 - STUDENT_WEIGHT.value,
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
        model = _recalibrate(model, bundle)
    elif key == "pruned":
        model, extra = _iterative(teacher, ctx["model"]("transfer"), bundle)
        epochs = extra["rounds"]
    elif key == "finetune":
        epochs = FINETUNE.value
        model = _kd(teacher, ctx["model"]("pruned"), bundle, epochs, True)
        model = _recalibrate(model, bundle)
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

    target = params_target(TARGET_PARAMS.value, teacher.count_params())
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


def work_dir(root, settings, teacher_folder, seed):
    """Where a seed's step models go: per teacher folder and settings."""
    parts = (settings["ablation"], settings["teacher"])
    return common.seed_work_dir(root, parts, settings, teacher_folder, seed)


def keep_saved(arms, keys, seed_dir):
    """The finished arms, in `keys` order, up to the first one that is not
    finished or whose model is missing from `seed_dir` (later arms start
    from it, so they run again too)."""
    kept = {}
    for key in keys:
        model = os.path.join(seed_dir, f"{key}.keras")
        if key not in arms or not os.path.exists(model):
            break
        kept[key] = arms[key]
    dropped = [key for key in arms if key not in kept]
    if dropped:
        print(f"{seed_dir}: no saved model to start from, rerun {dropped}")
    return kept


def _matches(record, settings, teacher_folder):
    """Whether `record` was made with `settings` on that teacher folder."""
    return (
        record.get("flags") == settings
        and record.get("teacher_info", {}).get("folder") == teacher_folder
    )


def _load_record(path, settings, teacher_folder, keys):
    """`(record, arms, teacher row)` of the record at `path`.

    `record` when it is finished (every arm of `keys` without an error),
    else `None` with the arms that succeeded and the teacher row they were
    measured against. A record made with other `settings` or on another
    teacher folder counts as absent.
    """
    if not os.path.exists(path):
        return None, {}, None
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if not _matches(record, settings, teacher_folder):
        print(f"{path}: made with other settings or teacher, run again")
        return None, {}, None
    arms = record.get("arms", {})
    good = {k: v for k, v in arms.items() if "error" not in v}
    if record.get("complete") and all(key in good for key in keys):
        return record, arms, record.get("teacher")
    # Arms that failed before, or are new, run again.
    return None, good, record.get("teacher")


def _model_loader(seed_dir, state):
    """`load(key)`: a trainable copy of the model arm `key` ended with."""
    import keras

    def load(key):
        if key not in state:
            path = os.path.join(seed_dir, f"{key}.keras")
            if not os.path.exists(path):
                raise ValueError(
                    f"Step {key!r} has no saved model in {seed_dir}: "
                    "rerun the seed from its first step."
                )
            state[key] = keras.saving.load_model(path, compile=False)
        return common.copy_model(state[key])

    return load


def _run_arm(key, teacher, data, ctx, seed):
    """One arm's row; its error instead when it fails (others go on)."""
    start = time.time()
    try:
        out = ARM_FUNCTIONS[ABLATION.value](key, teacher, data(), ctx)
        row, model = out if isinstance(out, tuple) else (out, None)
        if model is not None:
            ctx["state"][key] = model
            os.makedirs(ctx["seed_dir"], exist_ok=True)
            model.save(os.path.join(ctx["seed_dir"], f"{key}.keras"))
    except Exception as error:  # noqa: BLE001 - recorded, others go on
        row = {"error": f"{type(error).__name__}: {error}"}
    row["seconds"] = round(time.time() - start, 1)
    print(json.dumps({"seed": seed, "arm": key, **row}), flush=True)
    return row


def run_seed(seed, teacher, teacher_info):
    """Runs (or finishes) every arm of one seed; returns its record."""
    settings = _settings()
    spec = ABLATIONS[settings["ablation"]]
    keys = [key for key, _ in spec["arms"]]
    path = common.result_path(_folder(settings), f"seed{seed}", ".json")
    folder = teacher_info["folder"]
    record, arms, stored = _load_record(path, settings, folder, keys)
    if record is not None:
        print(f"seed {seed}: cached in {path}")
        return record
    seed_dir = work_dir(WORK_DIR.value, settings, folder, seed)
    if spec.get("chained"):
        arms = keep_saved(arms, keys, seed_dir)

    def data():
        # Every arm: a fresh copy of the same seeded data.
        return common.seeded_data(seed, 0, LIMIT.value)

    # A resumed seed keeps the teacher row its arms were measured against.
    teacher_row = stored if arms and stored else None
    if teacher_row is None:
        latency = settings["ablation"] == "chen2020"
        teacher_row = _row(teacher, data(), latency=latency)
    state = {}
    ctx = {
        "teacher": teacher_row,
        "target_macs": settings["target_macs"],
        "arms": arms,
        "state": state,
        "seed_dir": seed_dir,
        "model": _model_loader(seed_dir, state),
    }
    out = (path, seed, settings, teacher_info, teacher_row, arms)
    for key in keys:
        if key not in arms:
            arms[key] = _run_arm(key, teacher, data, ctx, seed)
            _save(*out, complete=False)
    return _save(*out, complete=True)


def _save(path, seed, settings, teacher_info, teacher_row, arms, complete):
    payload = {
        "command": _command(seed),
        "run": common.run_record(),
        "flags": settings,
        "seed": seed,
        "ablation": settings["ablation"],
        "teacher_name": settings["teacher"],
        "target_macs": settings["target_macs"],
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


def current_records(folder, settings, teacher_folder):
    """The complete seed records in `folder` made with `settings` on
    `teacher_folder`, by seed."""
    done = []
    for entry in sorted(os.listdir(folder)):
        if entry.startswith("seed") and entry.endswith(".json"):
            with open(os.path.join(folder, entry), encoding="utf-8") as f:
                record = json.load(f)
            if record.get("complete") and _matches(
                record, settings, teacher_folder
            ):
                done.append(record)
    return sorted(done, key=lambda r: r["seed"])


# The summary.


def _mean(values):
    return sum(values) / len(values)


def _se(se, scale=1.0):
    return "" if se is None else f" ± {scale * se:.2f}"


def _ahead(mean, se):
    """Whether a paired difference is above zero by two standard errors."""
    if se is None:
        return "n/a (one seed)"
    return "yes" if mean > 0 and mean >= 2 * se else "no"


def _cell(values, unit):
    mean, se = common.paired(values)
    if unit == "%":
        return f"{100 * mean:.2f}%{_se(se, 100)}"
    return f"{mean:.4g}{_se(se) if unit != 'g' else ''}"


def _md_row(cells):
    return "| " + " | ".join(cells) + " |"


def _extra_cells(rows, extras):
    """A cell per extra field: its mean over the rows that have it."""
    cells = []
    for field, _, unit in extras:
        values = [row[field] for row in rows if field in row]
        cells.append(_cell(values, unit) if values else "")
    return cells


def _arm_lines(records, spec):
    """The arm table: each arm over the seeds where it has an accuracy."""
    extras = spec["extras"]
    header = ["arm", "seeds", "accuracy", "vs teacher (pp)"]
    header += ["MACs fraction", "params fraction"] + [h for _, h, _ in extras]
    teacher = [r["teacher"] for r in records]
    lines = [_md_row(header), "|---|" + "---:|" * (len(header) - 1)]
    accuracy = _cell([t["accuracy"] for t in teacher], "%")
    lines.append(
        _md_row(
            ["teacher", str(len(teacher)), accuracy, "", "100%", "100%"]
            + _extra_cells(teacher, extras)
        )
    )
    for key, label in spec["arms"]:
        both = [
            (r["arms"][key], r["teacher"])
            for r in records
            if "accuracy" in r["arms"].get(key, {})
        ]
        if not both:
            continue
        rows = [a for a, _ in both]
        gap, gap_se = common.paired(
            [100 * (a["accuracy"] - t["accuracy"]) for a, t in both]
        )
        macs = _mean([a["macs"] / t["macs"] for a, t in both])
        params = _mean([a["params"] / t["params"] for a, t in both])
        cells = [
            label,
            str(len(rows)),
            _cell([a["accuracy"] for a in rows], "%"),
        ]
        cells += [f"{gap:+.2f}{_se(gap_se)}", f"{macs:.1%}", f"{params:.1%}"]
        lines.append(_md_row(cells + _extra_cells(rows, extras)))
    return lines


def _pair_lines(records, spec):
    """Paired differences over the seeds where both arms have accuracy."""
    labels = dict(spec["arms"])
    lines = [
        "Paired differences in accuracy (pp, arm minus the arm it is "
        "compared with, over the seeds where both have one); ahead means "
        "above zero by at least two standard errors.",
        "",
        "| arm | against | seeds | difference | ahead |",
        "|---|---|---:|---:|---|",
    ]
    for ours, base in spec["pairs"]:
        diffs = [
            100 * (r["arms"][ours]["accuracy"] - r["arms"][base]["accuracy"])
            for r in records
            if "accuracy" in r["arms"].get(ours, {})
            and "accuracy" in r["arms"].get(base, {})
        ]
        if not diffs:
            continue
        mean, se = common.paired(diffs)
        lines.append(
            _md_row(
                [labels[ours], labels[base], str(len(diffs))]
                + [f"{mean:+.2f}{_se(se)}", _ahead(mean, se)]
            )
        )
    return lines


def _block_lines(records, spec):
    lines = []
    for key, label in spec["arms"]:
        blocks = [r["arms"].get(key, {}).get("blocks") for r in records]
        blocks = [b for b in blocks if b is not None]
        if not blocks:
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
    seeds = parse_seeds(SEEDS.value)
    settings = _settings()
    name = settings["teacher"]
    teacher_info, folder = common.teacher_record(name, TEACHERS_DIR.value)
    teacher = common.load_teacher(name, TEACHERS_DIR.value)
    teacher_info = {
        "folder": os.path.basename(folder),
        "test_accuracy": teacher_info.get("test_accuracy"),
        "command": teacher_info.get("run", {}).get("command"),
    }
    for seed in seeds:
        run_seed(seed, teacher, teacher_info)
    done = current_records(_folder(settings), settings, teacher_info["folder"])
    all_seeds = ",".join(str(r["seed"]) for r in done)
    text = summarize(
        done, ABLATION.value, name, f"{_command()} --seeds={all_seeds}"
    )
    common.write_text(os.path.join(_folder(settings), "summary.md"), text)
    _reindex()
    print(text)


if __name__ == "__main__":
    app.run(main)
