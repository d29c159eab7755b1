"""LayerNormalization in a form the int8 converter quantizes whole.

Keras computes a layer norm as `x * inv + (-mean * inv + beta)` with
`inv = gamma / sqrt(var + eps)`. The TFLite converter has no int8 kernel
for the negation (`NEG`) in that expression, so a full-integer conversion
leaves it in float, wrapped in dequantize/quantize ops. The same function
written as `(x - mean) * inv + beta` uses only ops with int8 kernels
(`MEAN`, `SUB`, `MUL`, `RSQRT`, `ADD`). `convert(mode="int8")` converts a
clone whose LayerNormalization layers compute it that way.
"""

import keras
from keras import ops

from tf_compact.internal import keras_compat


@keras.saving.register_keras_serializable(package="tf_compact")
class QuantizableLayerNormalization(keras.layers.LayerNormalization):
    """`LayerNormalization` written with int8-quantizable ops only.

    Computes `(x - mean) * rsqrt(var + epsilon) * gamma + beta` over
    `axis`, the function of `keras.layers.LayerNormalization` up to float
    rounding, with the same arguments, weights and config. Used by
    `tfc.lite.convert(mode="int8")`; `rms_scaling=True` is left to the
    parent class (it has no negation).

    Example:

    ```python
    layer = QuantizableLayerNormalization.from_config(
        keras.layers.LayerNormalization(epsilon=1e-5).get_config()
    )
    ```
    """

    def call(self, inputs):
        if self.rms_scaling:
            return super().call(inputs)
        dtype = keras.backend.result_type(inputs.dtype, "float32")
        x = ops.cast(inputs, dtype)
        axes = sorted(self.axis)
        mean = ops.mean(x, axis=axes, keepdims=True)
        centered = ops.subtract(x, mean)
        variance = ops.mean(
            ops.multiply(centered, centered), axis=axes, keepdims=True
        )
        outputs = ops.multiply(
            centered, ops.rsqrt(ops.add(variance, self.epsilon))
        )
        if self.gamma is not None:
            outputs = ops.multiply(outputs, self._broadcast(self.gamma, x))
        if self.beta is not None:
            outputs = ops.add(outputs, self._broadcast(self.beta, x))
        return ops.cast(outputs, self.compute_dtype)

    def _broadcast(self, weight, x):
        weight = ops.cast(weight, x.dtype)
        rank = len(x.shape)
        if list(self.axis) == [rank - 1]:
            return weight
        shape = [1] * rank
        for a in self.axis:
            shape[a] = x.shape[a]
        return ops.reshape(weight, shape)


def _needs_rewrite(layer):
    return (
        type(layer) is keras.layers.LayerNormalization and not layer.rms_scaling
    )


def _has_layer_norm(model):
    return any(
        _needs_rewrite(layer)
        for layer in model._flatten_layers(include_self=False)
    )


def _clone_layer(layer):
    if _needs_rewrite(layer):
        return QuantizableLayerNormalization.from_config(layer.get_config())
    return layer.__class__.from_config(layer.get_config())


def quantizable_clone(model):
    """Returns `model`, or a clone whose layer norms quantize to int8.

    Every `keras.layers.LayerNormalization` (nested models included) of a
    Sequential or Functional model becomes a `QuantizableLayerNormalization`
    with the same config and weights; the clone computes the same function
    up to float rounding, and keeps every layer name. A model without a
    layer norm, or one that cannot be cloned (subclassed), is returned as
    it is. `model` is never changed.

    Example:

    ```python
    friendly = quantizable_clone(model)
    ```
    """
    if not isinstance(model, keras.Model) or not _has_layer_norm(model):
        return model
    try:
        clone = keras_compat.clone_model(
            model, clone_function=_clone_layer, recursive=True
        )
    except Exception:  # noqa: BLE001 - a subclassed model converts as is
        return model
    old, new = model.weights, clone.weights
    if [tuple(v.shape) for v in old] != [tuple(v.shape) for v in new]:
        return model
    for source, target in zip(old, new):
        target.assign(source)
    return keras_compat.finalize_states(clone)
