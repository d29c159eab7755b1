"""Argument checks of the Distiller, in the Keras error style."""

import math

import keras
import numpy as np

from tf_compact.distillation import features
from tf_compact.distillation import kd_loss
from tf_compact.internal import heads
from tf_compact.internal import keras_compat
from tf_compact.internal.user_warning import warn


def _is_number(value):
    return kd_loss.is_number(value) and math.isfinite(float(value))


def _shapes(tensors):
    return [tuple(t.shape) for t in keras.tree.flatten(tensors)]


def _check_shapes(teacher_shapes, student_shapes, what):
    same = len(teacher_shapes) == len(student_shapes) and all(
        len(t) == len(s)
        and all(a is None or b is None or a == b for a, b in zip(t, s))
        for t, s in zip(teacher_shapes, student_shapes)
    )
    if not same:
        raise ValueError(
            f"Teacher and student {what} shapes are incompatible: they must "
            f"match except for unknown dimensions. Received: teacher {what} "
            f"shapes={teacher_shapes}, student {what} shapes={student_shapes}"
        )


def validate_models(teacher, student, output=None):
    """Checks types and input/output compatibility of teacher and student.

    Args:
        teacher: The teacher.
        student: The student.
        output: Index or name of the distilled output, or `None` when the
            models have one output. Defaults to `None`.

    Raises:
        TypeError: If either is not a `keras.Model`, or both are the same
            object.
        ValueError: If their input or distilled output shapes differ
            (checked when both have a symbolic graph), if a model has
            several outputs and `output` is `None`, or if `output` names
            no output of a model.
    """
    for role, model in (("teacher", teacher), ("student", student)):
        if not isinstance(model, keras.Model):
            raise TypeError(
                f"Invalid value for argument `{role}`. Expected a "
                f"keras.Model. Received: {role}={model!r} of type "
                f"{type(model).__name__}"
            )
    if teacher is student:
        raise TypeError(
            "Invalid value for argument `student`. Expected a model other "
            "than the teacher. Received: the same object for both."
        )
    _check_no_shared_weights(teacher, student)
    selected = {}
    for role, model in (("teacher", teacher), ("student", student)):
        if not features.is_functional(model):
            continue
        count = len(model.outputs)
        if output is None and count > 1:
            names = heads.output_names(model)
            raise ValueError(
                f"The {role} model `{model.name}` has {count} outputs "
                f"{names}; the Distiller distills one output. Pass "
                "`distilled_output=` with its index or name (labels and "
                "metrics then "
                f"apply to that output). Received: distilled_output=None"
            )
        if output is not None:
            selected[role] = [features.final_output(model, output)]
        else:
            selected[role] = list(model.outputs)
    _warn_untrained_outputs(student, output)
    if len(selected) == 2:
        _check_shapes(_shapes(teacher.inputs), _shapes(student.inputs), "input")
        _check_shapes(
            _shapes(selected["teacher"]), _shapes(selected["student"]), "output"
        )


def _warn_untrained_outputs(student, output):
    if output is None or not features.is_functional(student):
        return
    names = heads.output_names(student)
    if len(names) < 2:
        return
    kept = names[features.output_index(student, output)]
    others = [n for n in names if n != kept]
    warn(
        f"The Distiller trains the student `{student.name}` on its output "
        f"{kept!r} only: its other outputs {others} get no loss, and "
        "layers that feed only them do not train.",
    )


def validate_output(output):
    """Returns `distilled_output` if it is `None`, an int or a str."""
    if output is None or isinstance(output, str):
        return output
    if isinstance(output, (bool, np.bool_)) or not isinstance(
        output, (int, np.integer)
    ):
        raise ValueError(
            "Invalid value for argument `distilled_output`. Expected None, "
            "an output index or an output name. Received: "
            f"distilled_output={output!r}"
        )
    return int(output)


def validate_losses(losses):
    """Returns `losses` as a non-empty list."""
    if losses is None:
        raise ValueError(
            "Invalid value for argument `distillation_losses`. Expected a "
            "distillation loss or a non-empty list of them. Received: "
            "distillation_losses=None"
        )
    if not isinstance(losses, (list, tuple)):
        losses = [losses]
    if not losses:
        raise ValueError(
            "Invalid value for argument `distillation_losses`. Expected a "
            "distillation loss or a non-empty list of them. Received: "
            f"distillation_losses={losses!r}"
        )
    return list(losses)


def validate_weights(weights, count):
    """Returns the term weights as floats >= 0 (all 1 when `None`)."""
    if weights is None:
        return [1.0] * count
    if isinstance(weights, np.ndarray) and weights.ndim == 1:
        weights = weights.tolist()
    ok = isinstance(weights, (list, tuple)) and len(weights) == count
    if ok:
        ok = all(_is_number(w) and w >= 0 for w in weights)
    if not ok:
        raise ValueError(
            "Invalid value for argument `distillation_loss_weights`. Expected "
            f"None or a list of {count} numbers >= 0, one per distillation "
            f"loss. Received: distillation_loss_weights={weights!r}"
        )
    return [float(w) for w in weights]


def validate_student_weight(weight):
    """Returns `student_loss_weight` as a float in [0, 1]."""
    if not _is_number(weight) or not 0.0 <= weight <= 1.0:
        raise ValueError(
            "Invalid value for argument `student_loss_weight`. Expected a "
            f"number in [0, 1]. Received: student_loss_weight={weight!r}"
        )
    return float(weight)


def validate_sparsity(sparsity):
    """Returns `sparsity` if it is `None` or callable."""
    if sparsity is not None and not callable(sparsity):
        raise TypeError(
            "Invalid value for argument `sparsity`. Expected None or a "
            "callable `sparsity(student)` returning a scalar penalty. "
            f"Received: sparsity={sparsity!r}"
        )
    return sparsity


def require_shapes(term, teacher, student):
    """Raises if `term` needs feature shapes a subclassed model cannot give.

    Raises:
        TypeError: If `term.needs_module` and a model is subclassed.
    """
    if not getattr(term, "needs_module", False):
        return
    which = [
        m.name for m in (teacher, student) if not features.is_functional(m)
    ]
    raise TypeError(
        f"{type(term).__name__} builds trainable heads from feature shapes, "
        "which a subclassed model does not expose. Use Functional or "
        f"Sequential models. Received subclassed model(s): {which}"
    )


RESERVED_KEYS = ("loss", "student_loss", "student_reg_loss", "sparsity_loss")


def unique_keys(names):
    """Returns log keys, suffixing repeated names with `_2`, `_3`, ...

    Raises:
        ValueError: If a name is one of the Distiller's own log keys.
    """
    keys, seen = [], {}
    for name in names:
        if name in RESERVED_KEYS:
            raise ValueError(
                "Invalid value for argument `name` of a distillation loss. "
                f"Expected a key other than {RESERVED_KEYS}. Received: "
                f"name={name!r}"
            )
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return keys


def _check_no_shared_weights(teacher, student):
    """Refuses a student built on the teacher's own layers.

    Training such a student would train the teacher too, BN moving
    statistics included, so the teacher would drift while it teaches.
    """
    owned = {
        id(w): layer.name
        for layer in keras_compat.leaf_layers(teacher)
        for w in layer.weights
    }
    shared = sorted({owned[id(w)] for w in student.weights if id(w) in owned})
    if shared:
        raise ValueError(
            "Invalid value for argument `student`. Expected a model with "
            "weights of its own; this student is built on the teacher's "
            f"layers {shared[:5]}, so training it would change the teacher "
            "(its weights and BN statistics). Build the student from a copy: "
            "`keras.models.clone_model(teacher)`, or `tfc.prune(teacher, "
            "...)`, which copies."
        )
