"""BN statistics in `compress`: the teacher check and the student's.

The moving statistics of a BN layer are what it normalizes with in
inference: in evaluation, TFLite conversion and the saved model. They lag
behind weights that changed (training at a high BN momentum, group
sparsity shrinking kernels) and are wrong after slimming, so:

- `check_teacher` runs when the pipeline starts: it compares the
  teacher's inference accuracy with its accuracy when each BN normalizes
  with the statistics of its batch, warns in plain words when the first is
  far below the second or near chance, and, only when asked
  (`Training(recalibrate_teacher=True)`), recalibrates a copy of the
  teacher.
- `recalibrate_student` recalibrates the student after slimming and after
  each training stage (adaptive BN), on a bounded number of training
  batches, forward passes only, and returns the record the report shows
  under `bn_recalibration`. The student as first built is left as the
  lighten transforms made it (`gap_head` fits its head on the features
  the teacher's statistics give).
"""

import keras
import numpy as np

from tf_compact.internal import batch_norm
from tf_compact.internal import heads
from tf_compact.internal import keras_compat
from tf_compact.internal import labels as label_lib
from tf_compact.internal.user_warning import warn

#: Training batches each recalibration runs (forward passes only).
RECALIBRATION_BATCHES = 100
#: Batches of evaluation data the teacher check runs, in both modes.
CHECK_BATCHES = 8
#: Accuracy gap (percentage points, batch statistics above inference)
#: beyond which the teacher's BN statistics are reported stale.
STALE_GAP_PP = 10.0
#: Inference accuracy within this share of the way from chance to 100%
#: counts as near chance.
NEAR_CHANCE_SHARE = 0.05
#: Store keys of the check's record and of the recalibrated teacher.
CHECK_KEY = "teacher_check"
TEACHER_KEY = "teacher_recalibrated"


def recalibrate_student(ctx, model, measure=True):
    """Recalibrates `model`'s BN statistics on the run's training data.

    Args:
        ctx: the `CompressContext`.
        model: the student (changed in place; it is the pipeline's own).
        measure: also measure the accuracy before, on the evaluation data.
            Defaults to `True`.

    Returns:
        `{"batches", "samples", "layers", "seconds"[, "accuracy_before"]}`,
        or `None` when `model` has no BN layer.

    Example:

    ```python
    entry = recalibrate_student(ctx, slim)
    record = finish(stages.model_summary(slim, ctx), entry)
    ```
    """
    if not batch_norm.batch_norm_layers(model):
        return None
    before = ctx.accuracy(model) if measure else None
    done = batch_norm.recalibrate(
        model, ctx.train_data, max_batches=RECALIBRATION_BATCHES
    )
    entry = done.to_dict()
    if before is not None:
        entry["accuracy_before"] = before
    ctx.log(
        f"BN statistics of '{model.name}' recalibrated on {done.batches} "
        f"training batches ({done.layers} layers, {done.seconds:.1f} s)"
    )
    return entry


def finish(record, entry):
    """Adds `entry` to a stage's `record`, with the accuracy after.

    Args:
        record: the stage's record (its `accuracy`, when measured, is the
            accuracy after recalibration).
        entry: what `recalibrate_student` returned, or `None`.

    Returns:
        `record`, with `record["bn_recalibration"]` set when `entry` is.
    """
    if entry is None:
        return record
    entry = dict(entry)
    if "accuracy_before" in entry and record.get("accuracy") is not None:
        entry["accuracy_after"] = record["accuracy"]
    record["bn_recalibration"] = entry
    return record


def check_teacher(ctx):
    """Checks the teacher's BN statistics; recalibrates a copy if asked.

    Compares the teacher's accuracy in inference mode with its accuracy
    when every BN layer normalizes with the statistics of its batch, on up
    to `CHECK_BATCHES` batches of the evaluation data (else the training
    data). A gap over `STALE_GAP_PP` points, or an inference accuracy near
    chance, raises a `UserWarning` and is logged. With the run's
    `recalibrate_teacher` setting, a copy of the teacher is recalibrated on
    the training data and replaces `ctx.teacher` for the whole run; the
    user's model is never changed. A finished check (an earlier run in the
    same `output_dir`) is reused.

    Args:
        ctx: the `CompressContext`.

    Returns:
        The check's record: `inference_accuracy`, `batch_stats_accuracy`,
        `gap_pp`, `chance`, `stale`, `near_chance`, `message`,
        `recalibrated` and, after a recalibration, `bn_recalibration` with
        the inference accuracy after it.
    """
    store = ctx.store
    ctx.given_teacher = ctx.teacher
    asked = bool(ctx.settings.get("recalibrate_teacher"))
    if store.done(CHECK_KEY):
        record = store.record(CHECK_KEY)
        if record.get("recalibrated") and store.has_model(TEACHER_KEY):
            ctx.teacher = store.model(TEACHER_KEY)
        if record.get("message"):
            ctx.log(record["message"])
        return record
    store.begin(CHECK_KEY)
    data = ctx.eval_data if ctx.eval_data is not None else ctx.train_data
    record = measure_teacher(ctx.teacher, data, recalibrating=asked)
    if record["message"] and not asked:
        warn(record["message"])
    if record["message"]:
        ctx.log(record["message"])
    else:
        ctx.log(
            f"teacher BN check: {100 * record['inference_accuracy']:.1f}% "
            "in inference mode, "
            f"{100 * record['batch_stats_accuracy']:.1f}% on batch "
            "statistics"
        )
    record["recalibrated"] = False
    if asked:
        teacher = keras_compat.copy_with_weights(ctx.teacher)
        done = batch_norm.recalibrate(
            teacher, ctx.train_data, max_batches=RECALIBRATION_BATCHES
        )
        entry = done.to_dict()
        entry["accuracy_before"] = record["inference_accuracy"]
        entry["accuracy_after"] = _accuracy(teacher, record["_batches"])
        record["bn_recalibration"] = entry
        record["recalibrated"] = True
        store.put_model(TEACHER_KEY, teacher)
        ctx.teacher = teacher
        ctx.log(
            "teacher recalibrated (a copy): inference accuracy "
            f"{100 * entry['accuracy_before']:.1f}% -> "
            f"{100 * entry['accuracy_after']:.1f}% on the check batches "
            f"({done.batches} training batches, {done.seconds:.1f} s)"
        )
    del record["_batches"]
    store.finish(CHECK_KEY, record)
    return record


def measure_teacher(teacher, data, batches=CHECK_BATCHES, recalibrating=False):
    """Inference vs batch-statistics accuracy of `teacher` on `data`.

    Nothing of `teacher` is changed.

    Args:
        teacher: a classifier `keras.Model`.
        data: batches of `(x, y)`.
        batches: batches used. Defaults to `CHECK_BATCHES`.
        recalibrating: whether the run recalibrates a copy of the teacher
            (the message then says so instead of advising it). Defaults
            to `False`.

    Returns:
        The record described in `check_teacher` (no `recalibrated`), plus
        `_batches`, the `(x, y)` batches used.
    """
    used = [_x_y(batch) for _, batch in zip(range(batches), data)]
    used = [(x, y) for x, y in used if y is not None]
    if not used:
        raise ValueError(
            "Invalid value for argument `train_data`: the teacher check "
            "needs labelled batches `(x, y)`. Received: no such batch"
        )
    inference = _accuracy(teacher, used)
    has_bn = bool(batch_norm.batch_norm_layers(teacher))
    if has_bn:
        pairs = batch_norm.batch_statistics_outputs(
            teacher, [x for x, _ in used]
        )
        outputs = [out for _, out in pairs]
        stats = _hit_rate(teacher, list(zip(outputs, [y for _, y in used])))
    else:
        stats = inference
    chance = _chance(teacher, used[0][0])
    gap = 100 * (stats - inference)
    stale = has_bn and gap > STALE_GAP_PP
    near = inference <= chance + NEAR_CHANCE_SHARE * (1 - chance)
    record = {
        "batches": len(used),
        "inference_accuracy": inference,
        "batch_stats_accuracy": stats,
        "gap_pp": gap,
        "chance": chance,
        "stale": bool(stale),
        "near_chance": bool(near),
        "message": _message(
            teacher, inference, stats, chance, stale, near, recalibrating
        ),
        "_batches": used,
    }
    return record


def _message(teacher, inference, stats, chance, stale, near, recalibrating):
    if not stale and not near:
        return ""
    scores = (
        f"The teacher '{teacher.name}' scores {100 * inference:.1f}% in "
        f"inference mode (chance: {100 * chance:.1f}%)"
    )
    if stale and recalibrating:
        return (
            f"{scores} but {100 * stats:.1f}% when its BN layers use the "
            "statistics of each batch: its BN moving statistics do not "
            "match its weights. As asked (`recalibrate_teacher`), a copy "
            "of it is recalibrated and teaches the student; the model "
            "given is not changed."
        )
    if stale:
        return (
            f"{scores} but {100 * stats:.1f}% when its BN layers use the "
            "statistics of each batch: its BN moving statistics do not "
            "match its weights (a high BN momentum, such as the 0.999 of "
            "keras.applications, lags behind training), so the student "
            "would learn from a teacher that is worse than its weights. "
            "Pass `training=tfc.methods.Training(recalibrate_teacher=True)` "
            "to `tfc.compress` (CLI: --recalibrate_teacher) to recalibrate "
            "a copy of it, or call "
            "`tfc.sparsity.recalibrate_batch_norm` on a copy first."
        )
    return (
        f"{scores}, near chance, and {100 * stats:.1f}% with batch "
        "statistics: check that it is trained, and that the data is "
        "preprocessed and labelled as in its training."
    )


def _x_y(batch):
    if isinstance(batch, dict) or not isinstance(batch, (tuple, list)):
        return batch, None
    if len(batch) < 2:
        return batch[0], None
    return batch[0], np.asarray(batch[1])


def _first(outputs):
    if isinstance(outputs, dict):
        return next(iter(outputs.values()))
    if isinstance(outputs, (list, tuple)):
        return outputs[0]
    return outputs


def _accuracy(model, batches):
    pairs = [(model(x, training=False), y) for x, y in batches]
    return _hit_rate(model, pairs)


def _hit_rate(model, pairs):
    kind = heads.head_kind(model)
    logits = kind == heads.NONE
    hits = total = 0
    for out, y in pairs:
        out = keras.ops.convert_to_numpy(_first(out))
        hit = keras.ops.convert_to_numpy(
            label_lib.label_accuracy(y, out, kind=kind, from_logits=logits)
        )
        hits += float(np.sum(hit))
        total += int(np.size(hit))
    return hits / max(total, 1)


def _chance(model, x):
    out = _first(model(x[:1] if hasattr(x, "shape") else x, training=False))
    width = int(out.shape[-1]) if len(out.shape) > 1 else 1
    return 0.5 if width <= 1 else 1.0 / width
