"""Sparse training and slimming stages of `compress`, one per method.

- `controller`: KD + group lasso, λ set by `SparsityController`;
  slim by the controller's threshold.
- `budget`: KD + proximal group lasso (exact zeros), λ started from the
  loss scale and steered by `BudgetController` several times per epoch
  towards the MACs/params target; slim by its threshold.
- `iterative`: global iterative pruning of the teacher copy to the target,
  a KD fine-tune between rounds (`tfc.iterative_prune`); the
  sparse epochs are shared among the rounds.
- `gradual`: KD training while `GradualPruning` masks the channels down
  to the target on a cubic schedule; slim by its final mask.
- `oneshot`: no sparse training; one-shot structured pruning of the
  teacher copy to the target (L2 importance), then the KD fine-tune.
- `width`: the student is the teacher at `width_multiplier` (lighten's
  `width`); it is trained with KD, nothing is pruned.
"""

import keras
import numpy as np

from tf_compact.callbacks.budget_controller import BudgetController
from tf_compact.callbacks.gradual_pruning import GradualPruning
from tf_compact.callbacks.sparsity_controller import SparsityController
from tf_compact.distillation.distiller import Distiller
from tf_compact.internal import labels as label_lib
from tf_compact.pipeline import recalibration
from tf_compact.pipeline import stages
from tf_compact.pipeline import training
from tf_compact.pipeline.iterative import iterative_prune
from tf_compact.pipeline.training import steps_per_epoch
from tf_compact.profile import profile
from tf_compact.pruning.prune import prune
from tf_compact.pruning.prune import prune_masks
from tf_compact.sparsity.group_lasso import GroupLasso
from tf_compact.surgery.cost import estimate_slim_cost
from tf_compact.surgery.slim import slim as slim_model

#: Controller updates per epoch (`BudgetController(update_every=...)`).
UPDATES_PER_EPOCH = 8
#: Planned rounds of the `iterative` method.
ROUNDS = 4
#: Share of the `gradual` method's training over which the mask shrinks.
GRADUAL_SHARE = 2 / 3
#: Mask updates of the `gradual` method over that share.
GRADUAL_UPDATES = 60
#: Cost ~ (kept channel fraction) ** CHANNEL_EXPONENT, an under-estimate of
#: the conv-to-conv exponent 2, so the planned rounds reach the target.
CHANNEL_EXPONENT = 1.5

_KEPT_LOGS = (
    "loss",
    "accuracy",
    "val_accuracy",
    "student_loss",
    "sparsity_loss",
    "sparsity_strength",
    "group_sparsity",
    "slim_macs_fraction",
    "slim_params_fraction",
)


def _held_out_batch(ctx):
    data = ctx.val_data if ctx.val_data is not None else ctx.train_data
    x, y = next(iter(data))
    return np.asarray(x), np.asarray(y)


def _update_every(ctx):
    steps = steps_per_epoch(ctx.train_data)
    if steps is None:
        return "epoch"
    return max(1, steps // UPDATES_PER_EPOCH)


def _controller(ctx, student):
    settings = ctx.settings
    if settings["method"] == "budget":
        goals = _student_goals(ctx, student)
        return BudgetController(
            **{f"target_{kind}": value for kind, value in goals.items()},
            update_every=_update_every(ctx),
        )
    return SparsityController(data=_held_out_batch(ctx))


def initial_strength(ctx, student, penalty, share=0.1):
    """A starting λ at which the penalty is `share` of the task loss.

    Measures the student's cross-entropy on one training batch and the
    unscaled group-lasso sum, so λ does not depend on the model's size or
    on the loss's scale.

    Args:
        ctx: the `CompressContext`.
        student: the student model.
        penalty: the `GroupLasso` bound to the student.
        share: the wanted penalty / loss ratio. Defaults to `0.1`.

    Returns:
        The strength as a float (at least `1e-6`).
    """
    x, y = next(iter(ctx.train_data))
    loss_fn = label_lib.label_loss(student)
    pred = student(x, training=False)
    loss = float(keras.ops.convert_to_numpy(loss_fn(y, pred)))
    before = float(keras.ops.convert_to_numpy(penalty.strength))
    penalty.strength.assign(1.0)
    total = float(keras.ops.convert_to_numpy(penalty(student)))
    penalty.strength.assign(before)
    if total <= 0:
        return max(before, 1e-6)
    return max(share * loss / total, 1e-6)


def _distiller(ctx, student, sparsity=None, decay_steps=None):

    distiller = Distiller(
        ctx.teacher,
        student,
        distillation_losses=stages.kd_losses(ctx),
        student_loss_weight=ctx.settings["student_loss_weight"],
        sparsity=sparsity,
    )
    stages._compile(
        distiller, student, ctx.settings["learning_rate"], decay_steps
    )
    return distiller


def _fit(ctx, distiller, stage, callbacks=()):
    history = distiller.fit(
        ctx.train_data,
        validation_data=ctx.val_data,
        epochs=ctx.settings["epochs"],
        callbacks=list(callbacks) + ctx.backup_callbacks(stage),
        verbose=ctx.fit_verbose(),
    )
    return {
        key: [float(v) for v in values]
        for key, values in history.history.items()
        if key in _KEPT_LOGS
    }


def sparsify_stage(ctx):
    """Trains the student with KD and group lasso under a controller."""

    student = ctx.store.model("student_init")
    budget = ctx.settings["method"] == "budget"
    penalty = GroupLasso(
        strength=ctx.settings["strength"] or 1e-4, proximal=budget
    )
    callbacks = [_controller(ctx, student)]
    if budget:
        penalty.bind(student)
        if ctx.settings["strength"] is None:
            penalty.strength.assign(initial_strength(ctx, student, penalty))
    controller = callbacks[0]
    distiller = _distiller(ctx, student, sparsity=penalty)
    history = _fit(ctx, distiller, "sparsify", callbacks)
    entry = recalibration.recalibrate_student(ctx, student, measure=False)
    ctx.store.put_model("student", student)
    record = {
        "threshold": float(controller.threshold),
        "history": history,
        "final_strength": float(keras.ops.convert_to_numpy(penalty.strength)),
    }
    return recalibration.finish(record, entry)


def threshold_slim_stage(ctx):
    """Removes the groups whose norm fell below the controller's threshold."""
    student = ctx.store.model("student")
    threshold = ctx.store.record("sparsify")["threshold"]
    slim = prune(student, threshold=threshold)
    entry = recalibration.recalibrate_student(ctx, slim)
    ctx.store.put_model("slim", slim)
    record = stages.model_summary(slim, ctx)
    record["threshold"] = threshold
    return recalibration.finish(record, entry)


def oneshot_slim_stage(ctx):
    """One-shot structured pruning to the target or `widths`, then KD."""
    student = ctx.store.model("student_init")
    widths = ctx.settings.get("widths")
    if widths:
        targets = {
            f"target_{kind}": ctx.settings.get(f"target_{kind}")
            for kind in ("macs", "params")
        }
        check_widths(student, ctx.teacher, widths, targets)
        kwargs = {"widths": widths}
    else:
        goals = _student_goals(ctx, student)
        kwargs = {f"target_{kind}": t for kind, t in goals.items()}
        if ctx.settings.get("round_to"):
            kwargs["round_to"] = ctx.settings["round_to"]
        if ctx.settings.get("allocation", "global") == "sensitivity":
            kwargs["scope"] = "sensitivity"
            kwargs["data"] = ctx.train_data.take(8)
    importance = ctx.settings.get("importance", "l2")
    if importance == "taylor":
        kwargs["data"] = ctx.train_data.take(8)
        training.compile_classifier(student)
    slim = prune(student, importance=importance, **kwargs)
    history = {}
    epochs = ctx.settings["epochs"]
    # Pruning left the statistics behind; training moves them again.
    entry = recalibration.recalibrate_student(ctx, slim, measure=not epochs)
    if epochs:
        decay = stages.decay_steps(ctx, epochs)
        history = _fit(ctx, _distiller(ctx, slim, decay_steps=decay), "oneshot")
        entry = recalibration.recalibrate_student(ctx, slim)
    ctx.store.put_model("slim", slim)
    record = stages.model_summary(slim, ctx)
    record["history"] = history
    return recalibration.finish(record, entry)


def gradual_stage(ctx):
    """KD training while the channels shrink to the target, then slim.

    `GradualPruning` reaches the budget after `GRADUAL_SHARE` of the
    `epochs` (cubic schedule, `GRADUAL_UPDATES` mask updates); the rest
    trains at the final widths. The learning rate follows the run's
    schedule over the whole stage.
    """

    student = ctx.store.model("student_init")
    goals = _student_goals(ctx, student)
    epochs = ctx.settings["epochs"]
    steps = steps_per_epoch(ctx.train_data) or _count_batches(ctx.train_data)
    end_step = max(1, int(steps * max(epochs, 1) * GRADUAL_SHARE))
    pruning = GradualPruning(
        **{f"target_{kind}": value for kind, value in goals.items()},
        end_step=end_step,
        frequency=max(1, end_step // GRADUAL_UPDATES),
        importance=ctx.settings["importance"],
        round_to=ctx.settings.get("round_to"),
    )
    history = {}
    distiller = _distiller(
        ctx, student, decay_steps=stages.decay_steps(ctx, epochs)
    )
    if epochs:
        history = _fit(ctx, distiller, "gradual", [pruning])
    else:
        pruning.set_model(distiller)
        pruning.update(end_step)
    slim = slim_model(student, pruning.masks, graph=pruning.plan.graph)
    entry = recalibration.recalibrate_student(ctx, slim)
    ctx.store.put_model("slim", slim)
    record = stages.model_summary(slim, ctx)
    record["history"] = history
    record["schedule"] = pruning.updates
    return recalibration.finish(record, entry)


def _count_batches(dataset):
    return sum(1 for _ in dataset)


def iterative_stage(ctx):
    """Global iterative pruning with KD between rounds, to the target.

    Plans `ROUNDS` rounds: the per-round fraction is chosen so the target
    is reached in about that many (the last round prunes exactly to it),
    and each round fine-tunes for `epochs / ROUNDS` of an epoch, so the
    whole stage costs about `epochs` epochs.
    """

    settings = ctx.settings
    student = ctx.store.model("student_init")
    # Rounds are planned on the binding target; the last one meets all.
    goals = _student_goals(ctx, student)
    _, target = _binding_of(student, goals)
    fraction = 1.0 - target ** (1.0 / (CHANNEL_EXPONENT * ROUNDS))
    steps = steps_per_epoch(ctx.train_data)
    fit_kwargs, epochs_per_round = {}, 1
    if steps is not None and settings["epochs"]:
        per_round = max(1, round(steps * settings["epochs"] / ROUNDS))
        epochs_per_round = max(1, per_round // steps)
        fit_kwargs["steps_per_epoch"] = min(per_round, steps)
        if per_round >= steps:
            fit_kwargs = {}
    elif not settings["epochs"]:
        epochs_per_round = 0
    slim, rounds = iterative_prune(
        student,
        _repeat(ctx.train_data, fit_kwargs),
        **{f"target_{kind}": value for kind, value in goals.items()},
        fraction=min(max(fraction, 0.01), 0.9),
        epochs_per_round=epochs_per_round,
        teacher=ctx.teacher,
        distillation_losses=stages.kd_losses(ctx),
        optimizer=keras.optimizers.Adam(settings["learning_rate"]),
        loss=label_lib.label_loss(student),
        metrics=[label_lib.label_metric(student)],
        fit_kwargs=fit_kwargs,
        verbose=ctx.fit_verbose() * 2,
    )
    entry = recalibration.recalibrate_student(ctx, slim)
    ctx.store.put_model("slim", slim)
    record = stages.model_summary(slim, ctx)
    record["rounds"] = [
        {k: v for k, v in r.items() if isinstance(v, (int, float))}
        for r in rounds
    ]
    return recalibration.finish(record, entry)


def _repeat(dataset, fit_kwargs):
    """Repeats the data when rounds stop mid-epoch, so no round runs dry."""
    if fit_kwargs.get("steps_per_epoch") and hasattr(dataset, "repeat"):
        return dataset.repeat()
    return dataset


def _student_goals(ctx, student):
    """`{kind: fraction of the student's cost}` of every target.

    Targets are fractions of the *teacher's* cost (≤ 1) or absolute counts
    (> 1); both are turned into a fraction of the student's cost, which
    differs from the teacher's when the student was lightened.
    """
    prof, ref = profile(student), profile(ctx.teacher)
    dense = {"macs": prof.macs, "params": prof.params}
    teacher = {"macs": ref.macs, "params": ref.params}
    goals = {}
    for kind in ("macs", "params"):
        target = ctx.settings.get(f"target_{kind}")
        if target is None:
            continue
        absolute = _absolute(target, teacher[kind])
        goals[kind] = min(1.0, absolute / max(dense[kind], 1))
    return goals


def _absolute(target, teacher_cost):
    """A target as a count: a fraction of the teacher's cost (<= 1) or one."""
    return target * teacher_cost if target <= 1 else target


def check_widths(model, teacher, widths, targets):
    """Checks hand-chosen `widths` against `model` and the targets.

    Args:
        model: the student before pruning (the teacher copy, possibly
            lightened).
        teacher: the teacher, whose cost the targets refer to.
        widths: `{group or producer layer name: kept channels}`.
        targets: `{"target_macs": ..., "target_params": ...}`, each a
            fraction of the teacher's cost (<= 1), a count (> 1) or `None`.

    Raises:
        ValueError: for a name or width that does not fit `model`, or
            widths whose slim model misses a target.
    """
    reached = estimate_slim_cost(model, prune_masks(model, widths=widths))
    full = estimate_slim_cost(teacher)
    for index, kind in enumerate(("macs", "params")):
        target = targets.get(f"target_{kind}")
        if target is None or reached[index] <= _absolute(target, full[index]):
            continue
        raise ValueError(
            f"Invalid value for argument `widths`: the slim model keeps "
            f"{reached[index]:,} {kind} ({reached[index] / full[index]:.1%} "
            f"of the teacher), over `target_{kind}`={target}. Received: "
            f"widths={widths}"
        )


def _binding_of(student, goals):
    """`(kind, fraction of the student's cost)` of the binding target.

    With both a MACs and a parameter target, a one-shot prune that meets
    both tells which one binds: the one its result is closest to.
    """
    if len(goals) == 1:
        return next(iter(goals.items()))
    return _binding(student, goals)


def _binding(student, goals):
    trial = prune(
        student, target_macs=goals["macs"], target_params=goals["params"]
    )
    reached = estimate_slim_cost(trial)
    dense = estimate_slim_cost(student)
    ratio = {
        kind: reached[i] / max(dense[i], 1) / goals[kind]
        for i, kind in enumerate(("macs", "params"))
    }
    kind = max(ratio, key=ratio.get)
    return kind, goals[kind]


def kd_train_stage(ctx):
    """Trains the (already narrow) student with KD, no sparsity."""
    student = ctx.store.model("student_init")
    decay = stages.decay_steps(ctx, ctx.settings["epochs"])
    distiller = _distiller(ctx, student, decay_steps=decay)
    history = _fit(ctx, distiller, "kd_train")
    entry = recalibration.recalibrate_student(ctx, student)
    ctx.store.put_model("slim", student)
    record = stages.model_summary(student, ctx)
    record["history"] = history
    return recalibration.finish(record, entry)


def stages_for(method):
    """The default stage list of a method, in run order.

    Args:
        method: `"controller"`, `"budget"`, `"oneshot"`, `"gradual"`,
            `"iterative"` or `"width"`.

    Returns:
        A list of `Stage` objects.
    """
    head = [
        stages.Stage("teacher", stages.teacher_stage, "measure the teacher"),
        stages.Stage("lighten", stages.lighten_stage, "build the student"),
    ]
    if method in ("controller", "budget"):
        middle = [
            stages.Stage(
                "sparsify", sparsify_stage, f"KD + group lasso ({method})"
            ),
            stages.Stage("slim", threshold_slim_stage, "slim by threshold"),
        ]
    elif method == "oneshot":
        middle = [stages.Stage("slim", oneshot_slim_stage, "one-shot prune")]
    elif method == "gradual":
        middle = [stages.Stage("slim", gradual_stage, "gradual pruning + KD")]
    elif method == "iterative":
        middle = [
            stages.Stage(
                "slim", iterative_stage, "global iterative pruning + KD"
            )
        ]
    else:
        middle = [stages.Stage("slim", kd_train_stage, "KD-train the student")]
    tail = [
        stages.Stage("finetune", stages.finetune_stage, "KD fine-tune"),
        stages.Stage("tflite", stages.tflite_stage, "convert to TFLite"),
        stages.Stage("benchmark", stages.benchmark_stage, "time TFLite"),
    ]
    return head + middle + tail
