"""What `Distiller.compile` makes of the loss and metrics it is given.

The Distiller trains one output of the student (the distilled one). A
loss, metrics or loss weights given per output, as the user compiled the
model with several heads (a dict keyed by output name, or a loss list with
one entry per output), are narrowed to the distilled output's entry.
Logit distillation compares class distributions: with a regression loss
compiled (on the Distiller or on the teacher) it is refused, since a
softmax over a regression output cannot see its errors.
"""

from tf_compact.distillation import plan as plan_lib
from tf_compact.internal import heads

_PER_OUTPUT = ("loss", "metrics", "loss_weights", "weighted_metrics")


def adapt(distiller, arguments):
    """Narrows per-output compile arguments and checks the loss.

    Args:
        distiller: The `Distiller` being compiled.
        arguments: The bound arguments of `compile`, edited in place.

    Raises:
        ValueError: If a per-output dict lacks the distilled output, or
            logit distillation meets a regression loss.

    Example:

    ```python
    adapt(distiller, {"loss": {"cls": "sparse_categorical_crossentropy",
                               "box": "mse"}})  # -> the "cls" loss
    ```
    """
    plan = distiller._plan
    found = plan.distilled_output_names()
    teacher_loss = getattr(distiller.teacher, "loss", None)
    if found is not None:
        for key in _PER_OUTPUT:
            if arguments.get(key) is not None:
                arguments[key] = _entry(arguments[key], key, *found)
        if isinstance(teacher_loss, dict):
            teacher_loss = plan_lib.output_entry(teacher_loss, *found)
    elif isinstance(teacher_loss, dict):
        teacher_loss = None
    if teacher_loss is plan_lib.MISSING:
        teacher_loss = None
    _check_logits_terms(plan, arguments.get("loss"), teacher_loss)


def _entry(value, key, names, index):
    # A metrics list is one output's metrics unless it is a list of lists.
    per_output = isinstance(value, dict) or key == "loss"
    if isinstance(value, (list, tuple)) and not per_output:
        per_output = all(isinstance(v, (list, tuple)) for v in value)
    entry = plan_lib.output_entry(value, names, index) if per_output else value
    if entry is not plan_lib.MISSING:
        return entry
    if isinstance(value, dict):
        raise ValueError(
            f"Invalid value for argument `{key}`. The Distiller trains the "
            f"distilled output {names[index][0]!r} only; expected a dict "
            "with its entry, or the entry alone. Received: a dict with keys "
            f"{sorted(value)}"
        )
    return value


def _check_logits_terms(plan, loss, teacher_loss):
    logits_terms = [
        t.term_name for t in plan.terms if getattr(t, "reads_head", False)
    ]
    if not logits_terms:
        return
    found = heads.regression_loss(loss)
    where = "compiled on the Distiller"
    if found is None:
        found = heads.regression_loss(teacher_loss)
        where = "the teacher was compiled with"
    if found is None:
        return
    raise ValueError(
        f"Invalid value for argument `distillation_losses`. {logits_terms} "
        "distill class distributions, and the distilled output is a "
        f"regression output (loss {found!r} {where}): a softmax over it "
        "cannot see its errors. Distill a regression output with "
        "`tfc.FeatureKD(pairs=[(teacher_output_layer, "
        "student_output_layer)])`, or compile a classification loss. "
        f"Received: distillation_losses with {logits_terms}"
    )
