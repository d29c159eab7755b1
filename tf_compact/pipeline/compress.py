"""`tfc.compress`: teacher in, small fast TFLite model and report out."""

import hashlib

import numpy as np

from tf_compact.callbacks.gradual_pruning import GradualPruning
from tf_compact.data import inputs
from tf_compact.distillation.validation import validate_student_weight
from tf_compact.internal import heads
from tf_compact.internal.targets import parse_target
from tf_compact.internal.validation import validate_fraction
from tf_compact.internal.validation import validate_int
from tf_compact.internal.validation import validate_non_negative
from tf_compact.internal.validation import validate_positive
from tf_compact.lighten._clone import validate_model
from tf_compact.pipeline import recalibration
from tf_compact.pipeline import report as report_lib
from tf_compact.pipeline import sparse_stages
from tf_compact.pipeline.context import CompressContext
from tf_compact.pipeline.result import CompressResult
from tf_compact.pipeline.store import StageStore
from tf_compact.pruning.validation import CRITERIA

METHODS = (
    "auto",
    "controller",
    "budget",
    "oneshot",
    "gradual",
    "iterative",
    "width",
)
#: What `method="auto"` runs when a target is given.
AUTO_METHOD = "oneshot"
_BUDGETED = ("budget", "oneshot", "gradual", "iterative")
LIGHTEN = ("gap_head", "separable")
LR_SCHEDULES = ("cosine", "constant")
ALLOCATIONS = ("global", "sensitivity")
TFLITE_MODES = ("float32", "float16", "dynamic", "int8")


def compress(
    teacher,
    train_data,
    val_data=None,
    *,
    test_data=None,
    batch_size=None,
    target_macs=None,
    target_params=None,
    method="auto",
    lighten=(),
    width_multiplier=None,
    epochs=6,
    finetune_epochs=3,
    learning_rate=5e-3,
    lr_schedule="cosine",
    temperature=4.0,
    student_loss_weight=0.9,
    feature_kd=False,
    standardize_logits=False,
    strength=None,
    round_to=None,
    widths=None,
    allocation="global",
    importance="l2",
    recalibrate_teacher=False,
    tflite_modes=("float32", "int8"),
    num_threads=1,
    benchmark_runs=50,
    baselines=(),
    output_dir=None,
    resume=True,
    stages=None,
    verbose=1,
):
    """Compresses a trained classifier into a small, fast TFLite model.

    One call runs the stages: measure the teacher → build the student (a
    copy of the teacher, optionally lightened) → distillation + group
    sparsity under a controller (or global iterative pruning, a MACs/params
    budget, or one-shot pruning) → physical slimming → KD fine-tune →
    TFLite float32 and int8 → interpreter benchmark → report. Each stage is
    also usable alone (`tf_compact.pipeline.stages`,
    `tf_compact.pipeline.sparse_stages`).

    With `output_dir`, every stage checkpoints what it made there
    (`stages.json`, `.keras`, `.tflite`) and training stages use
    `keras.callbacks.BackupAndRestore`, so rerunning the same call after an
    interruption resumes where it stopped. The directory also receives
    `report.json`, `report.md` and PNG plots (`tradeoff.png`, `widths.png`,
    `strength.png`, and `schedule.png` for `method="gradual"`).

    Args:
        teacher: a trained Sequential or Functional classifier (logits or
            softmax output, integer labels). It is never modified.
        train_data: batched `tf.data.Dataset` of `(x, y)`, a tuple
            `(x, y)` of arrays (as `model.fit` takes them, batched by
            `batch_size`), or a `tf_compact.data.DatasetBundle` (its
            `train`, `val` and `test` are used when `val_data`/`test_data`
            are not given, an empty split counting as none). Labels are
            integer class ids or one-hot rows (`keras.utils.to_categorical`,
            turned into class ids), or 0/1 for a binary head. Every
            dataset given must hold at least one example and end.
        val_data: validation data, in the same forms. Defaults to `None`.
        test_data: data for the reported accuracies, in the same forms;
            falls back to `val_data`. Defaults to `None`.
        batch_size: batch size of data given as `(x, y)` arrays (`None`:
            32); leave it out for datasets, which are batched already.
            Defaults to `None`.
        target_macs: MACs budget as a fraction of the teacher's (a float
            in (0, 1]) or an absolute count (an int >= 2; a float above 1
            is refused). Defaults to `None`.
        target_params: parameter budget, same convention.
            Defaults to `None`.
        method: `"iterative"` (global iterative pruning to the target with
            KD between rounds), `"oneshot"` (structured pruning
            to the target, then KD), `"gradual"` (KD while the channels
            shrink to the target on a cubic schedule over the first two
            thirds of `epochs`, `tfc.callbacks.GradualPruning`),
            `"budget"` (KD + proximal group lasso, λ steered to the
            target), `"controller"` (λ from the teacher/student gap),
            `"width"` (teacher at
            `width_multiplier`, KD-trained), or `"auto"`: `AUTO_METHOD`
            (`"oneshot"`) with a target or `widths`, else `"controller"`
            (see the benchmarks page of the docs for how the methods
            compare). With both targets, every
            pruning method meets both (`"budget"` steers λ by the one that
            binds at each update and ends at a threshold that meets both).
            Defaults to `"auto"`.
        lighten: lighten transforms applied to the student first, names
            (`"gap_head"`, `"separable"`) or callables. Defaults to `()`.
        width_multiplier: with `method="width"`, the channel fraction.
            Defaults to `None`.
        epochs: epochs of sparse, pruning-round or KD training (shared
            among the rounds by `"iterative"`). Defaults to `6`.
        finetune_epochs: KD fine-tune epochs after slimming (at half the
            learning rate, on a schedule of its own). With `"oneshot"` the
            student already distills at its final widths, so `0` (one
            schedule for the whole budget) is a good choice there.
            Defaults to `3`.
        learning_rate: peak Adam learning rate (halved for the
            fine-tune). A freshly pruned student recovers faster at a rate
            above Adam's usual 1e-3. Defaults to `5e-3`.
        lr_schedule: `"cosine"` (the learning rate of each KD training
            stage — one-shot/width KD and the fine-tune — decays to 0 over
            the stage along a half cosine) or `"constant"`. Sparse training
            (controller, budget) and iterative rounds always use a
            constant rate. Defaults to `"cosine"`.
        temperature: logits-KD temperature. Defaults to `4.0`.
        student_loss_weight: weight α of the cross-entropy on the labels
            in every KD stage; the distillation terms get `1 - α`
            (`tfc.Distiller`). Defaults to `0.9`.
        feature_kd: add multi-level feature distillation
            (`tfc.FeatureKD()`: teacher/student feature maps matched by
            resolution, adapters where the widths differ) to the logits KD
            of every KD stage. Defaults to `False`.
        standardize_logits: standardize every example's teacher and
            student logits before the logits KD
            (`tfc.LogitsKD(standardize=True)`); `temperature` then applies
            to the standardized logits, and 2 suits it. Defaults to
            `False`.
        strength: initial group-lasso strength λ; `None` derives it from
            the loss scale (`"budget"`: the penalty starts at a tenth of
            the loss; `"controller"`: `1e-4`). Defaults to `None`.
        round_to: keep pruned widths multiples of this (one-shot
            pruning). 8 or 16 match the channel tiles of XNNPACK's
            convolution kernels, so rounded widths run faster at the same
            MACs. Defaults to `None`.
        widths: with `"oneshot"` (or `"auto"`), the student's widths chosen
            by hand instead of searched: `{group or producer layer name:
            kept channels}` (`tfc.prune(widths=...)`), each named group
            keeping its best channels by `importance`, the others all
            theirs. With a target too, the widths must meet it (checked
            before any training when nothing is lightened). Defaults to
            `None`.
        allocation: how one-shot pruning splits the budget among the
            channel groups: `"global"` (one ranking of every channel by
            its group-normalized score) or `"sensitivity"` (every group cut
            alone to a few widths on 8 training batches, widths then taken
            where the predictions change least per unit of budget;
            `tfc.prune(scope="sensitivity")`). The sensitivity table helps
            where the global ranking keeps a layer too wide (a Flatten →
            Dense head) and can hurt where every group must lose most of
            its width; the docs' benchmarks page has both cases.
            Defaults to `"global"`.
        importance: channel criterion of one-shot and gradual pruning
            (`"l2"`, `"l1"`, `"bn_gamma"`, or, one-shot only, `"taylor"`,
            which scores channels with gradients on 8 training batches).
            Defaults to `"l2"`.
        recalibrate_teacher: recalibrate the BN statistics of a copy of
            the teacher on the training data before it teaches (the
            teacher passed in is not changed). The teacher is always
            checked first: when its inference accuracy is far below its
            accuracy with batch statistics, or near chance, a
            `UserWarning` says so and the report's `teacher_check` keeps
            the figures. Defaults to `False`.
        tflite_modes: conversion modes of the final model.
            Defaults to `("float32", "int8")`.
        num_threads: interpreter threads for the benchmark. Defaults to `1`.
        benchmark_runs: timed invocations per TFLite file. Defaults to `50`.
        baselines: extra points `{"name", "macs", "accuracy"}` for the
            trade-off plot. Defaults to `()`.
        output_dir: directory for files and checkpoints; `None` keeps
            everything in memory. Defaults to `None`.
        resume: reuse finished stages and mid-stage training backups found
            in `output_dir`, when they come from a run with the same
            settings (the same arguments, teacher weights and data shapes;
            a run with other settings is refused with the differing ones
            named). A checkpoint found damaged is named in the log, and
            its stage runs again with those after it. With `False`, the
            earlier run's records, models, TFLite files, report and
            backups in `output_dir` are deleted first (said in the log)
            and everything runs from the start. Defaults to `True`.
        stages: a custom list of `Stage` objects to run instead of the
            method's default list. Defaults to `None`.
        verbose: 0 silent, 1 progress lines and Keras progress bars.
            Defaults to `1`.

    Returns:
        A `CompressResult` (`.student`, `.slim_model`, `.tflite`,
        `.report`, `.table()`).

    Raises:
        TypeError: if `teacher` is not a Keras model.
        ValueError: if an argument is out of range, a dataset is empty,
            endless or unbatched, `output_dir` holds a run with other
            settings, or the method needs a target it lacks.

    Example:

    ```python
    bundle = tfc.data.builtin()
    teacher = tfc.models.small_cnn()  # trained beforehand
    result = tfc.compress(teacher, bundle, target_macs=0.25,
                          output_dir="compressed")
    print(result.table())
    ```
    """
    validate_model(teacher, "teacher")
    train_data, val_data, test_data = _split_data(
        train_data, val_data, test_data
    )
    data = _prepare_data(
        teacher,
        {"train_data": train_data, "val_data": val_data},
        test_data,
        batch_size,
    )
    train_data, val_data, test_data = data.pop("datasets")
    settings = _settings(locals())
    settings.update(data)
    ctx = CompressContext(
        teacher, train_data, val_data, test_data, settings, None, verbose
    )
    ctx.store = StageStore(output_dir, settings, resume=resume, log=ctx.log)
    ctx.transforms = list(lighten)
    recalibration.check_teacher(ctx)
    plan = stages if stages is not None else default_stages(settings)
    _run_stages(ctx, plan)
    return _result(ctx, baselines)


def default_stages(settings):
    """The stage list `compress` runs for the given settings."""
    return sparse_stages.stages_for(settings["method"])


def _run_stages(ctx, plan):
    for index, stage in enumerate(plan, 1):
        head = f"stage {index}/{len(plan)} {stage.name}: {stage.description}"
        if ctx.store.done(stage.name):
            ctx.log(f"{head} (done in an earlier run, skipped)")
            continue
        ctx.log(head)
        ctx.store.begin(stage.name)
        record = ctx.full_history(stage.run(ctx))
        ctx.store.finish(stage.name, record)


def _result(ctx, baselines):
    records = ctx.store.records()
    history = {
        name: rec["history"]
        for name, rec in records.items()
        if isinstance(rec, dict) and "history" in rec
    }
    report = report_lib.build_report(records, ctx.settings, history)
    files = report_lib.write(ctx.store, report, records, baselines)
    tflite = {}
    for filename in records.get("tflite", {}):
        label = report_lib.TFLITE_LABELS.get(filename, filename)
        if not label.startswith("teacher"):
            tflite[label] = ctx.store.bytes(filename)
    for key in ("student", "slim_finetuned", "student_init"):
        path = ctx.store.path(f"{key}.keras")
        if path and ctx.store.has_model(key):
            files[f"{key}.keras"] = path
    for filename in records.get("tflite", {}):
        if ctx.store.output_dir:
            files[filename] = ctx.store.path(filename)
    student = (
        ctx.store.model("student") if ctx.store.has_model("student") else None
    )
    slim = (
        ctx.store.model("slim_finetuned")
        if ctx.store.has_model("slim_finetuned")
        else None
    )
    if ctx.verbose:
        print(report_lib.summary_table(report), flush=True)
    return CompressResult(
        student, slim, tflite, report, ctx.store.output_dir, files
    )


def _split_data(train_data, val_data, test_data):
    if hasattr(train_data, "train") and hasattr(train_data, "test"):
        bundle = train_data
        if val_data is None:
            val_data = _bundle_split(bundle, "val")
        if test_data is None:
            test_data = _bundle_split(bundle, "test")
        train_data = bundle.train
    if train_data is None:
        raise ValueError(
            "Invalid value for argument `train_data`. Expected a batched "
            "dataset of (x, y) or a DatasetBundle. Received: None"
        )
    return train_data, val_data, test_data


def _bundle_split(bundle, split):
    """A bundle's `val`/`test` dataset, or None when it has no example."""
    count = getattr(bundle, "num_examples", None)
    if count is not None and count(split) == 0:
        return None
    return getattr(bundle, split)


def _prepare_data(teacher, named, test_data, batch_size):
    """Checks and normalizes the data; returns the datasets and settings.

    Arrays become batched datasets, one-hot labels become class ids (for
    a softmax or logits head wider than one unit), and an empty, endless
    or unbatched dataset is refused by the name of its argument.
    """
    named = dict(named, test_data=test_data)
    arrays = {k: v for k, v in named.items() if inputs.is_array_pair(v)}
    if batch_size is not None and not arrays:
        raise ValueError(
            "Argument `batch_size` only batches (x, y) arrays, and no data "
            f"was given as arrays. Received: batch_size={batch_size}"
        )
    input_rank, width = _input_rank_and_width(teacher)
    one_hot = heads.head_kind(teacher) != heads.SIGMOID and (width or 0) > 1
    datasets, signatures = [], {}
    for name, value in named.items():
        dataset = inputs.as_dataset(
            name, value, batch_size if name in arrays else None
        )
        if dataset is not None:
            inputs.check_not_empty(name, dataset)
            inputs.check_batched(name, dataset, input_rank)
            signatures[name] = inputs.signature(dataset, arrays.get(name))
            if one_hot:
                dataset = inputs.sparse_labels(dataset, width)
        datasets.append(dataset)
    return {
        "datasets": datasets,
        "batch_size": batch_size,
        "data": signatures,
    }


def _input_rank_and_width(model):
    """`(rank of the first input, width of the first output)`, or Nones."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return None, None
    rank = len(inputs[0].shape) if inputs else None
    width = outputs[0].shape[-1] if outputs else None
    return rank, width


def _settings(args):
    method = _validate_choice("method", args["method"], METHODS)
    targets = {
        key: parse_target(key, args[key])
        for key in ("target_macs", "target_params")
    }
    has_target = any(v is not None for v in targets.values())
    widths = _validate_widths(args["widths"], method)
    if method == "auto":
        method = AUTO_METHOD if has_target or widths else "controller"
    if method in _BUDGETED and not has_target and not widths:
        raise ValueError(
            f"method={method!r} needs a budget: pass `target_macs` or "
            "`target_params`. Received: neither."
        )
    if (
        method == "gradual"
        and args["importance"] not in GradualPruning.CRITERIA
    ):
        raise ValueError(
            "method='gradual' ranks channels by their weights: "
            f"`importance` must be one of {GradualPruning.CRITERIA}. "
            f"Received: importance={args['importance']!r}"
        )
    width = args["width_multiplier"]
    if method == "width":
        width = validate_fraction("width_multiplier", width)
    elif width is not None:
        raise ValueError(
            "`width_multiplier` is only used with method='width'. "
            f"Received: width_multiplier={width}, method={method!r}"
        )
    for name, minimum in (
        ("epochs", 0),
        ("finetune_epochs", 0),
        ("num_threads", 1),
        ("benchmark_runs", 1),
    ):
        args[name] = validate_int(name, args[name], minimum=minimum)
    if args["round_to"] is not None:
        args["round_to"] = validate_int("round_to", args["round_to"], 1)
    for name in ("learning_rate", "temperature"):
        args[name] = validate_positive(name, args[name])
    alpha = validate_student_weight(args["student_loss_weight"])
    if args["strength"] is not None:
        args["strength"] = validate_non_negative("strength", args["strength"])
    modes = [
        _validate_choice("tflite_modes", m, TFLITE_MODES)
        for m in args["tflite_modes"]
    ]
    teacher = args["teacher"]
    if widths and not args["lighten"]:
        sparse_stages.check_widths(teacher, teacher, widths, targets)
    return {
        "teacher": teacher.name,
        "teacher_fingerprint": _fingerprint(teacher),
        "method": method,
        **targets,
        "lighten": [_lighten_name(t) for t in args["lighten"]],
        "width_multiplier": width,
        "epochs": args["epochs"],
        "finetune_epochs": args["finetune_epochs"],
        "learning_rate": float(args["learning_rate"]),
        "lr_schedule": _validate_choice(
            "lr_schedule", args["lr_schedule"], LR_SCHEDULES
        ),
        "temperature": float(args["temperature"]),
        "student_loss_weight": alpha,
        "feature_kd": _validate_bool("feature_kd", args["feature_kd"]),
        "standardize_logits": _validate_bool(
            "standardize_logits", args["standardize_logits"]
        ),
        "strength": (
            None if args["strength"] is None else float(args["strength"])
        ),
        "round_to": args["round_to"],
        "widths": widths,
        "allocation": _validate_choice(
            "allocation", args["allocation"], ALLOCATIONS
        ),
        "importance": _validate_choice(
            "importance", args["importance"], CRITERIA
        ),
        "recalibrate_teacher": _validate_bool(
            "recalibrate_teacher", args["recalibrate_teacher"]
        ),
        "tflite_modes": modes,
        "num_threads": args["num_threads"],
        "benchmark_runs": args["benchmark_runs"],
    }


def _validate_widths(widths, method):
    if widths is None:
        return None
    if method not in ("auto", "oneshot"):
        raise ValueError(
            "`widths` sets the student of one-shot pruning: use it with "
            f"method='oneshot' or 'auto'. Received: method={method!r}"
        )
    ok = isinstance(widths, dict) and len(widths) > 0
    ok = ok and all(
        isinstance(k, str)
        and isinstance(v, int)
        and not isinstance(v, bool)
        and v >= 1
        for k, v in widths.items()
    )
    if not ok:
        raise ValueError(
            "Invalid value for argument `widths`. Expected a non-empty dict "
            "{layer or group name: int >= 1}. Received: "
            f"widths={widths!r}"
        )
    return dict(sorted(widths.items()))


def _fingerprint(model):
    """A short hash of the model's weights: a retrained teacher differs."""
    digest = hashlib.sha1()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]


def _lighten_name(transform):
    if callable(transform):
        return getattr(transform, "__name__", type(transform).__name__)
    return _validate_choice("lighten", transform, LIGHTEN)


def _validate_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected one of "
            f"{choices}. Received: {name}={value!r}"
        )
    return value



def _validate_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(
            f"Invalid value for argument `{name}`. Expected a bool. "
            f"Received: {name}={value!r}"
        )
    return value

