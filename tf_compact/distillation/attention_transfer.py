"""Attention transfer between feature maps (Zagoruyko & Komodakis, 2017)."""

import keras
from keras import ops

from tf_compact.distillation import adapters
from tf_compact.distillation import features
from tf_compact.distillation import kd_loss
from tf_compact.internal import empty_safe
from tf_compact.internal.user_warning import warn

# Floor of the divisors below: far under any float32 activation peak that
# matters, far over float32's smallest normal number.
_TINY = 1e-30


def _positions(size):
    """Number of spatial positions of a `(height, width)`, or None."""
    if size[0] is None or size[1] is None:
        return None
    return size[0] * size[1]


def attention_map(feature, p=2.0, size=None):
    """Returns the L2-normalized spatial attention map of an NHWC feature.

    The map is the channel mean of `|feature| ** p`, resized to `size` when
    given, flattened per sample and divided by its L2 norm. It depends only
    on the direction of each sample's feature: `c * feature` gives the same
    map for every `c > 0`, however small or large. For that, each sample is
    first divided by its largest absolute activation (a constant for the
    gradient), computed in float32, so that `|feature| ** p` neither
    underflows nor overflows, also for float16 features. An all-zero
    sample gives an all-zero map.

    Args:
        feature: A 4D tensor (batch, height, width, channels).
        p: Exponent on the absolute activations. Defaults to `2.0`.
        size: Optional `(height, width)` to resize the map to. Defaults to
            `None`.

    Returns:
        A 2D tensor (batch, height * width).
    """
    x = ops.abs(ops.cast(feature, "float32"))
    # `initial`: a replica's share of a small batch may hold no example.
    peak = ops.max(x, axis=(1, 2, 3), keepdims=True, initial=0.0)
    x = x / ops.stop_gradient(ops.maximum(peak, _TINY))
    amap = ops.mean(ops.power(x, p), axis=-1, keepdims=True)
    if size is not None and tuple(amap.shape[1:3]) != tuple(size):
        amap = ops.image.resize(amap, size, interpolation="bilinear")
    amap = ops.reshape(amap, (ops.shape(amap)[0], -1))
    norm = ops.norm(amap, axis=-1, keepdims=True)
    return amap / ops.maximum(norm, _TINY)


@keras.saving.register_keras_serializable(package="tf_compact")
class AttentionTransfer(kd_loss.KDLoss):
    """Matches where teacher and student look, not what they compute.

    For each pair of layers, the student's spatial attention map (channel
    mean of squared activations, L2-normalized) is pulled towards the
    teacher's. Channel counts may differ freely, so no trainable adapter is
    needed; a student map of another spatial size is resized to the
    teacher's. The maps do not depend on the scale of the activations: a
    student whose features are the teacher's times any `c > 0` scores 0.
    This is the loss used for simplified ("Moonshine") students. The term
    is `beta / 2 · Σ_pairs mean((a_t - a_s)²)`, where a pair whose teacher
    feature is 1×1 adds nothing (its map has no spatial extent; a warning
    says so when such a pair is given).

    Args:
        pairs: List of `(teacher_layer_name, student_layer_name)` of 4D
            feature maps, or `None` to pair layers that end a stage at the
            same resolution above 1×1 (never the input, preprocessing or
            zero-padding layers). Defaults to `None`.
        p: Exponent on the absolute activations, > 0. Defaults to `2.0`.
        beta: Scale of the term, > 0 (the paper's `β`). Defaults to
            `1000.0`.
        name: Key of this term in the training logs. Defaults to `None`
            (`"attention_transfer"`).

    Raises:
        ValueError: If `pairs`, `p` or `beta` is invalid; at Distiller
            construction, if a layer name is unknown or a feature is not 4D.
        TypeError: At Distiller construction, if a model is subclassed.

    Example:

    ```python
    at = tfc.AttentionTransfer(pairs=[("stage1", "stage1"), ("stage2", "s2")])
    distiller = tfc.Distiller(teacher, student, [tfc.LogitsKD(), at])
    ```
    """

    default_name = "attention_transfer"

    def __init__(self, pairs=None, p=2.0, beta=1000.0, name=None):
        super().__init__(name=name)
        self.pairs = features.validate_pairs(pairs)
        self.p = kd_loss.validate_positive(p, "p")
        self.beta = kd_loss.validate_positive(beta, "beta")

    def resolve_pairs(self, teacher, student):
        """Returns the given pairs, or pairs matched by resolution."""
        if self.pairs is None:
            return features.auto_pairs(teacher, student, spatial=True)
        return list(self.pairs)

    def build_module(self, teacher_shapes, student_shapes):
        """Checks the features are 4D maps; needs no trainable module.

        Warns about each pair whose teacher feature is 1×1: it adds nothing
        to the term.
        """
        for i, (t, s) in enumerate(zip(teacher_shapes, student_shapes)):
            if len(t) != 4 or len(s) != 4:
                raise ValueError(
                    "AttentionTransfer compares 4D feature maps (batch, "
                    f"height, width, channels). Received: teacher feature "
                    f"shape={t}, student feature shape={s}"
                )
            adapters.check_compatible(t, s)
            if _positions(t[1:3]) == 1:
                warn(
                    f"AttentionTransfer pair {i} (counting from 0 in "
                    "`pairs`) compares a 1x1 teacher feature: its attention "
                    "map has a single position, carries no spatial "
                    "information and adds nothing to the term. Pair layers "
                    "with a larger spatial size. Received: teacher feature "
                    f"shape={t}, student feature shape={s}",
                )
        return None

    def term_loss(
        self, teacher_features, student_features, module=None, training=False
    ):
        """Returns `beta / 2` times the summed per-pair map distances.

        Pairs whose teacher feature is 1×1 are skipped.
        """
        del module, training
        total = ops.zeros((), "float32")
        for t, s in zip(teacher_features, student_features):
            size = tuple(t.shape[1:3])
            if _positions(size) == 1:
                continue
            a_t = attention_map(t, self.p)
            a_s = attention_map(s, self.p, size=size)
            total = total + empty_safe.mean(ops.square(a_t - a_s))
        return total * (self.beta / 2.0)

    def get_config(self):
        """Returns the constructor arguments as a JSON-able dict."""
        config = super().get_config()
        pairs = None if self.pairs is None else [list(p) for p in self.pairs]
        config.update(pairs=pairs, p=self.p, beta=self.beta)
        return config
