"""Base class of the tf_compact distillation losses."""

import re

import keras
import numpy as np

from tf_compact.distillation import features
from tf_compact.internal import validation


def is_number(value):
    """Whether `value` is a real number (Python or NumPy scalar), not a bool.

    Example:

    ```python
    is_number(np.float32(4.0))  # True
    is_number(True)  # False
    ```
    """
    return validation.is_number(value)


def validate_positive(value, argument):
    """Checks that `value` is a finite real number > 0; returns a float.

    Args:
        value: The value to check (NumPy scalars are accepted).
        argument: Argument name used in the error message.

    Returns:
        `float(value)`.

    Raises:
        ValueError: If `value` is NaN, infinite or not > 0; a value of the
            wrong type (a bool, a string, `None`) raises
            `ArgumentTypeError`, which is a `ValueError` and a `TypeError`.
    """
    return validation.validate_positive(argument, value)


def validate_bool(value, argument):
    """Checks that `value` is a bool and returns it.

    Raises:
        TypeError: If `value` is not a bool.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"Invalid value for argument `{argument}`. Expected a bool. "
            f"Received: {argument}={value!r}"
        )
    return bool(value)


def validate_name(name):
    """Checks an optional log name: None or a non-empty identifier."""
    if name is None:
        return None
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(
            "Invalid value for argument `name`. Expected None or an "
            f"identifier such as 'logits_kd'. Received: name={name!r}"
        )
    return name


def as_list(x):
    """Returns `x` as a list (a lone tensor becomes a list of one)."""
    return list(x) if isinstance(x, (list, tuple)) else [x]


class KDLoss(keras.distillation.DistillationLoss):
    """Base class of tf_compact distillation losses.

    A distillation loss names the teacher/student features it compares
    (`resolve_pairs`), may ask the Distiller to own trainable helper layers
    such as adapters or projection heads (`build_module`), and computes a
    scalar from the features (`term_loss`). It is a
    `keras.distillation.DistillationLoss`, so the losses that only need the
    final outputs also work in `keras.distillation.Distiller`.

    Args:
        name: Key under which the Distiller logs this term. Defaults to
            `None`, which uses the class's `default_name`.

    Example:

    ```python
    class MeanGap(KDLoss):
        default_name = "mean_gap"

        def term_loss(self, teacher_features, student_features,
                      module=None, training=False):
            t, s = teacher_features[0], student_features[0]
            return keras.ops.mean(keras.ops.abs(t - s))
    ```
    """

    default_name = "kd"
    # Whether `build_module` needs the feature shapes (so a subclassed
    # model, whose output shape is unknown in advance, cannot be used).
    needs_module = False

    def __init__(self, name=None):
        self.name = validate_name(name)

    @property
    def term_name(self):
        """Key of this term in the training logs."""
        return self.name or self.default_name

    def resolve_pairs(self, teacher, student):
        """Returns the `(teacher_layer, student_layer)` pairs to compare.

        `None` stands for a model's final output. The default compares the
        final outputs.

        Args:
            teacher: The teacher `keras.Model`.
            student: The student `keras.Model`.

        Returns:
            A list of pairs of layer names (or `None`).
        """
        del teacher, student
        return [(features.FINAL, features.FINAL)]

    def build_module(self, teacher_shapes, student_shapes):
        """Returns a built Layer of trainable helpers, or `None`.

        Args:
            teacher_shapes: Shapes of the teacher features, pair by pair.
            student_shapes: Shapes of the student features, pair by pair.

        Returns:
            A built `keras.layers.Layer` owned and trained by the Distiller
            (left out of the student), or `None` when none is needed.
        """
        del teacher_shapes, student_shapes
        return None

    def term_loss(
        self, teacher_features, student_features, module=None, training=False
    ):
        """Computes the scalar loss from lists of features, pair by pair.

        Args:
            teacher_features: List of teacher tensors, one per pair.
            student_features: List of student tensors, one per pair.
            module: The Layer returned by `build_module`, or `None`.
            training: Whether this is a training step.

        Returns:
            A scalar tensor.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement `term_loss`."
        )

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        """Keras `DistillationLoss` entry point; see `term_loss`.

        Args:
            teacher_outputs: A tensor or list of teacher tensors.
            student_outputs: A tensor or list of student tensors.
            **kwargs: `module` and `training`, forwarded to `term_loss`.

        Returns:
            A scalar tensor.
        """
        return self.term_loss(
            as_list(teacher_outputs),
            as_list(student_outputs),
            module=kwargs.get("module"),
            training=kwargs.get("training", False),
        )

    def validate_outputs(self, teacher_outputs, student_outputs):
        """Accepts outputs of different widths (adapters bridge them)."""
        del teacher_outputs, student_outputs

    def get_config(self):
        """Returns the constructor arguments as a JSON-able dict."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        """Creates the loss from `get_config()`'s output."""
        return cls(**config)
