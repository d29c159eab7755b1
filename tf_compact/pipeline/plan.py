"""The stage list `compress` runs for each method."""

from tf_compact.pipeline import pruning_stages
from tf_compact.pipeline import sparse_training
from tf_compact.pipeline import stages
from tf_compact.pipeline.stages import Stage

_MIDDLE = {
    "controller": [
        ("sparsify", sparse_training.sparsify_stage, "KD + group lasso"),
        ("slim", sparse_training.threshold_slim_stage, "slim by threshold"),
    ],
    "budget": [
        ("sparsify", sparse_training.sparsify_stage, "KD + group lasso"),
        ("slim", sparse_training.threshold_slim_stage, "slim by threshold"),
    ],
    "oneshot": [("slim", pruning_stages.oneshot_slim_stage, "one-shot prune")],
    "gradual": [
        ("slim", pruning_stages.gradual_stage, "gradual pruning + KD")
    ],
    "iterative": [
        (
            "slim",
            pruning_stages.iterative_stage,
            "global iterative pruning + KD",
        )
    ],
    "width": [("slim", pruning_stages.kd_train_stage, "KD-train the student")],
}


def stages_for(method):
    """The default stage list of a method, in run order.

    Args:
        method: a method's name (`"controller"`, `"budget"`, `"oneshot"`,
            `"gradual"`, `"iterative"` or `"width"`) or a `tfc.methods`
            object.

    Returns:
        A list of `Stage` objects: measure the teacher, build the student,
        the method's own stages, KD fine-tune, TFLite, benchmark.

    Raises:
        ValueError: for an unknown method name.
    """
    name = getattr(method, "name", method)
    if name not in _MIDDLE:
        raise ValueError(
            f"Invalid value for argument `method`. Expected one of "
            f"{list(_MIDDLE)}. Received: method={method!r}"
        )
    head = [
        Stage("teacher", stages.teacher_stage, "measure the teacher"),
        Stage("lighten", stages.lighten_stage, "build the student"),
    ]
    middle = [Stage(key, run, text) for key, run, text in _MIDDLE[name]]
    if name in ("controller", "budget"):
        middle[0].description = f"KD + group lasso ({name})"
    tail = [
        Stage("finetune", stages.finetune_stage, "KD fine-tune"),
        Stage("tflite", stages.tflite_stage, "convert to TFLite"),
        Stage("benchmark", stages.benchmark_stage, "time TFLite"),
    ]
    return head + middle + tail


def default_stages(settings):
    """The stage list `compress` runs for the given settings."""
    return stages_for(settings["method"])
