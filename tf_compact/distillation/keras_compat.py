"""Lets a `keras.distillation` loss run inside `tf_compact.Distiller`."""

import re

import keras
import tensorflow as tf

from tf_compact.distillation import features
from tf_compact.distillation import kd_loss
from tf_compact.internal.user_warning import warn


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class KerasLossTerm:
    """Wraps a `keras.distillation.DistillationLoss` as a Distiller term.

    The wrapped loss reads the final outputs, or the outputs of the layers
    named by its `teacher_layer_name` / `student_layer_name` attributes (as
    `keras.distillation.FeatureDistillation` does), and is called through its
    own `validate_outputs` and `compute_loss`. It gets no adapter: shapes
    must already match, as in `keras.distillation.Distiller`.

    Args:
        loss: A `keras.distillation.DistillationLoss`.
    """

    def __init__(self, loss):
        self.loss = loss
        self.default_name = _snake(type(loss).__name__)
        fns = [f for f in keras.tree.flatten(getattr(loss, "loss", None)) if f]
        # keras.losses.Loss objects divide by the replica count themselves
        # under tf.distribute; the Distiller divides the total once more.
        self.scaled = bool(fns) and all(
            isinstance(f, keras.losses.Loss) for f in fns
        )
        if isinstance(loss, keras.distillation.LogitsDistillation) and any(
            getattr(f, "__name__", None) == "kl_divergence" for f in fns
        ):
            warn(
                "keras.distillation.LogitsDistillation with "
                "loss='kl_divergence' (its default) computes the KL "
                "divergence of the raw, clipped logits: Keras turns the "
                "string into a function that skips its softmax, so the term "
                "distills next to nothing (it can even be negative). Pass "
                "loss=keras.losses.KLDivergence(), or use tfc.LogitsKD.",
            )

    @property
    def term_name(self):
        """Key of this term in the training logs."""
        return self.default_name

    def resolve_pairs(self, teacher, student):
        """Returns the one pair of layer names the wrapped loss reads."""
        self.loss.validate_model_compatibility(teacher, student)
        t = getattr(self.loss, "teacher_layer_name", None)
        s = getattr(self.loss, "student_layer_name", None)
        if t is not None and s is not None:
            shapes = (
                features.layer_output(teacher, t, "teacher").shape,
                features.layer_output(student, s, "student").shape,
            )
            if tuple(shapes[0][1:]) != tuple(shapes[1][1:]):
                raise ValueError(
                    f"Invalid value in argument `distillation_losses`: "
                    f"{type(self.loss).__name__} compares teacher layer "
                    f"{t!r} of shape {shapes[0]} with student layer {s!r} "
                    f"of shape {shapes[1]}, and takes no adapter. Expected "
                    "layers of the same shape, or tfc.FeatureKD, which "
                    "adapts the student's channels to the teacher's."
                )
        elif t is not None or s is not None:
            model, name, role = (
                (teacher, t, "teacher") if t else (student, s, "student")
            )
            features.layer_output(model, name, role)
        return [(t, s)]

    def check_head(self, binary):
        """Refuses `keras.distillation.LogitsDistillation` on binary heads.

        Its softmax over a single logit is constant, so it would distill
        nothing.

        Raises:
            ValueError: If `binary` and the loss is `LogitsDistillation`.
        """
        if binary and isinstance(
            self.loss, keras.distillation.LogitsDistillation
        ):
            raise ValueError(
                "Invalid value in argument `distillation_losses`. "
                "keras.distillation.LogitsDistillation takes a softmax over "
                "the classes, which distills nothing from binary or "
                "multi-label outputs (a sigmoid head or a single logit). "
                "Expected tfc.LogitsKD, which uses a Bernoulli KL per unit "
                f"there. Received: {type(self.loss).__name__}"
            )

    def build_module(self, teacher_shapes, student_shapes):
        """Returns `None`: Keras losses get no trainable helpers."""
        del teacher_shapes, student_shapes
        return None

    def term_loss(
        self, teacher_features, student_features, module=None, training=False
    ):
        """Calls the wrapped loss on the one pair of features."""
        del module, training
        t, s = teacher_features[0], student_features[0]
        self.loss.validate_outputs(t, s)
        value = self.loss.compute_loss(t, s)
        if self.scaled:
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            value = value * float(replicas)
        return value


def as_term(loss):
    """Returns a Distiller term for a tf_compact or Keras distillation loss.

    Args:
        loss: A `KDLoss` or a `keras.distillation.DistillationLoss`.

    Returns:
        An object with `term_name`, `resolve_pairs`, `build_module` and
        `term_loss`.

    Raises:
        TypeError: If `loss` is neither.
    """
    if isinstance(loss, kd_loss.KDLoss):
        return loss
    if isinstance(loss, keras.distillation.DistillationLoss):
        return KerasLossTerm(loss)
    raise TypeError(
        "Invalid value in argument `distillation_losses`. Expected "
        "tf_compact distillation losses (LogitsKD, FeatureKD, ...) or "
        "keras.distillation losses (LogitsDistillation, "
        f"FeatureDistillation). Received: {loss!r} of type "
        f"{type(loss).__name__}"
    )


def original(term):
    """Returns the user-facing loss object behind a Distiller term."""
    return term.loss if isinstance(term, KerasLossTerm) else term
