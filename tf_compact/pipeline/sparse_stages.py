"""Sparse training and slimming stages of `compress`, one per method.

- `controller`: KD + group lasso, λ set by `SparsityController` (seed 000);
  slim by the controller's threshold.
- `budget`: KD + group lasso, λ steered by `BudgetController` towards the
  MACs/params target (seed 002); slim by its threshold.
- `oneshot`: no sparse training; one-shot structured pruning of the
  teacher copy to the target (L2 importance), then the KD fine-tune.
- `width`: the student is the teacher at `width_multiplier` (lighten's
  `width`, seed 001); it is trained with KD, nothing is pruned.
"""

import keras
import numpy as np

from tf_compact.pipeline import stages

_KEPT_LOGS = (
    "loss",
    "accuracy",
    "val_accuracy",
    "student_loss",
    "sparsity_loss",
    "sparsity_strength",
    "group_sparsity",
    "slim_macs_fraction",
)


def _targets(settings):
    return {
        key: settings[key]
        for key in ("target_macs", "target_params")
        if settings.get(key) is not None
    }


def _held_out_batch(ctx):
    data = ctx.val_data if ctx.val_data is not None else ctx.train_data
    x, y = next(iter(data))
    return np.asarray(x), np.asarray(y)


def _controller(ctx):
    settings = ctx.settings
    from tf_compact.callbacks.budget_controller import BudgetController
    from tf_compact.callbacks.sparsity_controller import SparsityController

    if settings["method"] == "budget":
        return BudgetController(**_targets(settings))
    return SparsityController(data=_held_out_batch(ctx))


def _distiller(ctx, student, sparsity=None):
    import tf_compact as tfc

    distiller = tfc.Distiller(
        ctx.teacher,
        student,
        distillation_losses=[
            tfc.LogitsKD(temperature=ctx.settings["temperature"])
        ],
        sparsity=sparsity,
    )
    stages._compile(distiller, student, ctx.settings["learning_rate"])
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
    import tf_compact as tfc

    student = ctx.store.model("student_init")
    penalty = tfc.GroupLasso(strength=ctx.settings["strength"])
    controller = _controller(ctx)
    distiller = _distiller(ctx, student, sparsity=penalty)
    history = _fit(ctx, distiller, "sparsify", [controller])
    ctx.store.put_model("student", student)
    return {
        "threshold": float(controller.threshold),
        "history": history,
        "final_strength": float(keras.ops.convert_to_numpy(penalty.strength)),
    }


def threshold_slim_stage(ctx):
    """Removes the groups whose norm fell below the controller's threshold."""
    from tf_compact.pruning.prune import prune

    student = ctx.store.model("student")
    threshold = ctx.store.record("sparsify")["threshold"]
    slim = prune(student, threshold=threshold)
    ctx.store.put_model("slim", slim)
    record = stages.model_summary(slim, ctx)
    record["threshold"] = threshold
    return record


def oneshot_slim_stage(ctx):
    """One-shot structured pruning of the student copy to the target."""
    from tf_compact.pruning.prune import prune

    student = ctx.store.model("student_init")
    kwargs = _targets(ctx.settings)
    if ctx.settings.get("round_to"):
        kwargs["round_to"] = ctx.settings["round_to"]
    slim = prune(student, importance="l2", **kwargs)
    ctx.store.put_model("slim", slim)
    return stages.model_summary(slim, ctx)


def kd_train_stage(ctx):
    """Trains the (already narrow) student with KD, no sparsity."""
    student = ctx.store.model("student_init")
    distiller = _distiller(ctx, student)
    history = _fit(ctx, distiller, "kd_train")
    ctx.store.put_model("slim", student)
    record = stages.model_summary(student, ctx)
    record["history"] = history
    return record


def stages_for(method):
    """The default stage list of a method, in run order.

    Args:
        method: `"controller"`, `"budget"`, `"oneshot"` or `"width"`.

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
    else:
        middle = [stages.Stage("slim", kd_train_stage, "KD-train the student")]
    tail = [
        stages.Stage("finetune", stages.finetune_stage, "KD fine-tune"),
        stages.Stage("tflite", stages.tflite_stage, "convert to TFLite"),
        stages.Stage("benchmark", stages.benchmark_stage, "time TFLite"),
    ]
    return head + middle + tail
