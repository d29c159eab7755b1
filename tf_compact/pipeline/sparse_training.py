"""The sparse-training stages of `compress`: `Controller` and `Budget`.

- `Controller`: KD + group lasso, λ set by `SparsityController` from the
  teacher/student gap; slim by the controller's threshold.
- `Budget`: KD + proximal group lasso (exact zeros), λ started from the
  loss scale and steered by `BudgetController` several times per epoch
  towards the MACs/params target; slim by its threshold.
"""

import keras
import numpy as np

from tf_compact.callbacks.budget_controller import BudgetController
from tf_compact.callbacks.sparsity_controller import SparsityController
from tf_compact.internal import labels as label_lib
from tf_compact.pipeline import recalibration
from tf_compact.pipeline import stages
from tf_compact.pipeline.pruning_stages import student_goals
from tf_compact.pipeline.training import steps_per_epoch
from tf_compact.pruning.prune import prune
from tf_compact.sparsity.group_lasso import GroupLasso

#: Controller updates per epoch of `Budget` when it does not say.
UPDATES_PER_EPOCH = 8


def _held_out_batch(ctx):
    data = ctx.val_data if ctx.val_data is not None else ctx.train_data
    x, y = next(iter(data))
    return np.asarray(x), np.asarray(y)


def _update_every(ctx):
    steps = steps_per_epoch(ctx.train_data)
    if steps is None:
        return "epoch"
    per_epoch = ctx.settings.get("updates_per_epoch", UPDATES_PER_EPOCH)
    return max(1, steps // per_epoch)


def _controller(ctx, student):
    # The stage recalibrates the student itself (`recalibrate_student`).
    if ctx.settings["method"] == "budget":
        goals = student_goals(ctx, student)
        return BudgetController(
            **{f"target_{kind}": value for kind, value in goals.items()},
            update_every=_update_every(ctx),
            recalibrate_data=None,
        )
    return SparsityController(data=_held_out_batch(ctx), recalibrate_data=None)


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


def sparsify_stage(ctx):
    """Trains the student with KD and group lasso under a controller."""
    student = ctx.store.model("student_init")
    budget = ctx.settings["method"] == "budget"
    penalty = GroupLasso(
        strength=ctx.settings["strength"] or 1e-4, proximal=budget
    )
    controller = _controller(ctx, student)
    if budget:
        penalty.bind(student)
        if ctx.settings["strength"] is None:
            penalty.strength.assign(initial_strength(ctx, student, penalty))
    distiller = stages.distiller(ctx, student, sparsity=penalty)
    history = stages.fit(ctx, distiller, "sparsify", [controller])
    # Read before the stage's own BN recalibration: the first read after
    # `fit` checks that no callback set the weights since the controller's
    # train-end work, and the recalibration below is no such callback.
    record = {
        "threshold": float(controller.threshold),
        "history": history,
        "final_strength": float(keras.ops.convert_to_numpy(penalty.strength)),
    }
    if budget:
        # False when the budget was met only by raising the threshold.
        record["met_by_sparsity"] = bool(controller.met_by_sparsity)
    entry = recalibration.recalibrate_student(ctx, student, measure=False)
    ctx.store.put_model("student", student)
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
