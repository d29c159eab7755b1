"""Multi-level hint distillation of intermediate features (FitNets)."""

import keras
from keras import ops

from tf_compact.distillation import adapters
from tf_compact.distillation import features
from tf_compact.distillation import kd_loss
from tf_compact.internal import empty_safe

_DISTANCES = ("mse", "mae", "cosine")


def _validate_distance(distance):
    if distance not in _DISTANCES:
        raise ValueError(
            "Invalid value for argument `distance`. Expected one of "
            f"{_DISTANCES}. Received: distance={distance!r}"
        )
    return distance


def feature_distance(distance, teacher, student):
    """Returns the mean distance between two features of equal shape.

    Args:
        distance: `"mse"`, `"mae"` or `"cosine"` (1 - cosine similarity of
            the flattened per-sample features).
        teacher: Teacher feature tensor.
        student: Student feature tensor of the same shape.

    Returns:
        A scalar tensor.
    """
    t = ops.cast(teacher, "float32")
    s = ops.cast(student, "float32")
    if distance == "mse":
        return empty_safe.mean(ops.square(t - s))
    if distance == "mae":
        return empty_safe.mean(ops.abs(t - s))
    t = ops.reshape(t, (ops.shape(t)[0], -1))
    s = ops.reshape(s, (ops.shape(s)[0], -1))
    t = t / (ops.norm(t, axis=-1, keepdims=True) + 1e-8)
    s = s / (ops.norm(s, axis=-1, keepdims=True) + 1e-8)
    return empty_safe.mean(1.0 - ops.sum(t * s, axis=-1))


@keras.saving.register_keras_serializable(package="tf_compact")
class FeatureKD(kd_loss.KDLoss):
    """Hint loss between intermediate features, at one or several levels.

    Each pair compares a teacher layer's output with a student layer's
    output (Romero et al., FitNets; several levels as in Chen et al. 2020).
    When the widths or spatial sizes differ, as they always do after
    slimming, the Distiller owns a trainable adapter per pair (a 1x1
    convolution or a dense layer to the teacher's width, then a bilinear
    resize to the teacher's height and width). Adapters are trained with the
    student and are not part of the exported student. The term is the mean
    of the per-pair distances.

    Args:
        pairs: List of `(teacher_layer_name, student_layer_name)`, or `None`
            to pair, for every spatial resolution both models produce, the
            last layer of each model at that resolution. Defaults to `None`.
        distance: `"mse"`, `"mae"` or `"cosine"`. Defaults to `"mse"`.
        project: Whether to add a 1x1 projection even where the widths
            already match. Defaults to `False`.
        name: Key of this term in the training logs. Defaults to `None`
            (`"feature_kd"`).

    Raises:
        ValueError: If `pairs` or `distance` is invalid; at Distiller
            construction, if a layer name is unknown or a pair of features
            cannot be adapted (different ranks).
        TypeError: At Distiller construction, if a model is subclassed.

    Example:

    ```python
    hint = tfc.FeatureKD(pairs=[("block2_relu", "block2_relu")])
    distiller = tfc.Distiller(teacher, student, [tfc.LogitsKD(), hint])
    ```
    """

    needs_module = True
    default_name = "feature_kd"

    def __init__(self, pairs=None, distance="mse", project=False, name=None):
        super().__init__(name=name)
        self.pairs = features.validate_pairs(pairs)
        self.distance = _validate_distance(distance)
        self.project = kd_loss.validate_bool(project, "project")

    def resolve_pairs(self, teacher, student):
        """Returns the given pairs, or pairs matched by resolution."""
        if self.pairs is None:
            return features.auto_pairs(teacher, student)
        return list(self.pairs)

    def build_module(self, teacher_shapes, student_shapes):
        """Returns the adapters of every pair (built)."""
        return adapters.AdapterSet(
            teacher_shapes,
            student_shapes,
            project=self.project,
            name=f"{self.term_name}_adapters",
        )

    def term_loss(
        self, teacher_features, student_features, module=None, training=False
    ):
        """Returns the mean distance over pairs, after the adapters."""
        del training
        if module is not None:
            student_features = module(student_features)
        total = 0.0
        for t, s in zip(teacher_features, student_features):
            total = total + feature_distance(self.distance, t, s)
        return total / len(teacher_features)

    def get_config(self):
        """Returns the constructor arguments as a JSON-able dict."""
        config = super().get_config()
        pairs = None if self.pairs is None else [list(p) for p in self.pairs]
        config.update(pairs=pairs, distance=self.distance, project=self.project)
        return config
