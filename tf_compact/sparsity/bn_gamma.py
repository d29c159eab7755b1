"""L1 penalty on batch-normalization scales (network slimming)."""

import keras
from keras import ops

from tf_compact.sparsity.group_lasso import GroupLasso


@keras.saving.register_keras_serializable(package="tf_compact")
class BNGammaL1(GroupLasso):
    """L1 penalty on the BN scales of prunable channels (network slimming).

    The penalty is `strength * sum_c sum_{bn} |gamma_{bn,c}|`, over the
    prunable channels `c` of the model's `tfc.ChannelGraph` and the
    batch-normalization layers coupled to them (Liu et al., 2017). A
    channel's value is the sum of its absolute BN scales; it reaches zero
    when every BN coupled to the channel silences it. The strength is a
    variable, as in `tfc.GroupLasso`, and the controllers steer it the same
    way.

    Args:
        strength: Initial strength `lambda`. Defaults to `1e-4`.
        proximal: When `True`, the penalty's value carries no gradient and
            each optimizer step is followed by soft-thresholding of the
            scales, `gamma <- sign(gamma) * max(0, |gamma| - lr * lambda)`.
            Defaults to `False`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, ...).

    Raises:
        ValueError: If `strength` is negative.

    Example:

    ```python
    penalty = tfc.BNGammaL1(strength=1e-4)
    trainer = tfc.Sparsifier(model, sparsity=penalty)
    ```
    """

    reduction = "l1"
    roles = ("norm",)
    weight_names = ("gamma",)

    def __init__(self, strength=1e-4, proximal=False, **kwargs):
        for key in ("normalization", "include_consumers"):
            kwargs.pop(key, None)
        super().__init__(
            strength=strength,
            normalization="none",
            include_consumers=False,
            proximal=proximal,
            **kwargs,
        )

    def apply_proximal(self, learning_rate):
        """Soft-thresholds the BN scales of the bound model, in place.

        Args:
            learning_rate: The optimizer's current learning rate.
        """
        plan = self._require_plan()
        thresholds = ops.concatenate(
            [self.channel_thresholds(learning_rate), ops.zeros((1,))], axis=0
        )
        for entry in plan.entries:
            per_channel = ops.take(thresholds, entry.segments, axis=0)
            per_channel = ops.reshape(per_channel, entry.broadcast_shape())
            value = ops.cast(entry.variable, "float32")
            shrunk = ops.sign(value) * ops.maximum(
                ops.abs(value) - per_channel, 0.0
            )
            entry.variable.assign(ops.cast(shrunk, entry.variable.dtype))

    def get_config(self):
        config = super().get_config()
        config.pop("normalization")
        config.pop("include_consumers")
        return config
