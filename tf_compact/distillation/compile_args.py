"""What `Distiller.compile` makes of the loss and metrics it is given.

The Distiller trains one output of the student (the distilled one). A
loss, metrics or loss weights given per output, as the user compiled the
model with several heads (a dict keyed by output name, or a loss list with
one entry per output), are narrowed to the distilled output's entry.
Logit distillation compares class distributions: with a regression loss
compiled (on the Distiller or on the teacher) it is refused, since a
softmax over a regression output cannot see its errors.
"""

from tf_compact.distillation import features
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
    names = _output_names(distiller.student)
    name = None
    if plan.output is not None and len(names) > 1:
        index = features.output_index(distiller.student, plan.output)
        name = names[index]
        for key in _PER_OUTPUT:
            if arguments.get(key) is not None:
                arguments[key] = _entry(arguments[key], key, names, index)
    teacher_loss = getattr(distiller.teacher, "loss", None)
    if isinstance(teacher_loss, dict):
        teacher_loss = teacher_loss.get(name)
    _check_logits_terms(plan, arguments.get("loss"), teacher_loss)


def _output_names(model):
    names = list(getattr(model, "output_names", None) or [])
    return names or [None] * len(getattr(model, "outputs", None) or [])


def _entry(value, key, names, index):
    if isinstance(value, dict):
        if names[index] in value:
            return value[names[index]]
        raise ValueError(
            f"Invalid value for argument `{key}`. The Distiller trains the "
            f"distilled output {names[index]!r} only; expected a dict with "
            f"its entry, or the entry alone. Received: a dict with keys "
            f"{sorted(value)}"
        )
    if not isinstance(value, (list, tuple)) or len(value) != len(names):
        return value
    # A loss list is per output; a metrics list only as a list of lists.
    if key == "loss" or all(isinstance(v, (list, tuple)) for v in value):
        return value[index]
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
