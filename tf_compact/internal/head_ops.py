"""The kinds of classifier head, and the layers that reach behind one.

`PreActivation` runs a layer without its activation (same variables),
`LogProbabilities` maps probabilities back to logits up to a constant, and
`LogitsOf` wraps a model with no graph to walk. `tf_compact.internal.heads`
decides which of them a model needs.
"""

import keras
from keras import ops

SOFTMAX = "softmax"
SIGMOID = "sigmoid"
NONE = "none"

_TINY = 1e-30


def _plain_dense(layer):
    return (
        type(layer).call is keras.layers.Dense.call
        and getattr(layer, "quantization_mode", None) is None
    )


class PreActivation(keras.layers.Layer):
    """Runs a layer without its activation, sharing its weights.

    A plain `Dense` layer's kernel and bias are applied directly; for other
    layers (convolutions, `EinsumDense`, quantized layers) the wrapped
    layer's `call` is run with its `activation` set to the identity for the
    duration of the call. Either way the weights are the very same
    variables, so `PreActivation(dense)(x)` is `dense`'s pre-activation,
    and the wrapped layer gains no node: its `output` stays what it was.

    Args:
        layer: A built layer with an `activation` attribute that its `call`
            applies last.
        **kwargs: Base `Layer` arguments such as `name`.

    Example:

    ```python
    dense = keras.layers.Dense(10, activation="softmax")
    dense.build((None, 4))
    logits = PreActivation(dense)(x)
    ```
    """

    def __init__(self, layer, **kwargs):
        kwargs.setdefault("name", f"{layer.name}_pre_activation")
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(**kwargs)
        self.inner = layer
        self.built = True

    def call(self, inputs):
        layer = self.inner
        if _plain_dense(layer):
            # Dense's own math, without touching the layer at all.
            x = ops.matmul(inputs, layer.kernel)
            if layer.bias is not None:
                x = ops.add(x, layer.bias)
            return x
        saved = self.inner.activation
        self.inner.activation = keras.activations.linear
        try:
            return self.inner.call(inputs)
        finally:
            self.inner.activation = saved

    def compute_output_shape(self, input_shape):
        return self.inner.compute_output_shape(input_shape)


class LogProbabilities(keras.layers.Layer):
    """Maps probabilities to logits up to a constant: the fallback view.

    For a softmax head `log(p)` (equal to the logits minus their
    log-sum-exp, so every softmax-based loss is unchanged); for a sigmoid
    head `log(p) - log(1 - p)`, the logit itself. `p` is clipped away from
    0 and 1 first.

    Args:
        kind: `"softmax"` or `"sigmoid"`.
        **kwargs: Base `Layer` arguments such as `name`.

    Example:

    ```python
    logits = LogProbabilities("softmax")(model.output)
    ```
    """

    def __init__(self, kind, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind

    def call(self, inputs):
        return probabilities_to_logits(inputs, self.kind)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["kind"] = self.kind
        return config


def probabilities_to_logits(probabilities, kind):
    """Returns logits (up to a per-row constant) from head probabilities.

    Args:
        probabilities: Output tensor of a softmax or sigmoid head.
        kind: `"softmax"`, `"sigmoid"` or `"none"` (returned as is).

    Returns:
        A float32 tensor of the same shape.

    Example:

    ```python
    logits = probabilities_to_logits(model(x), head_kind(model))
    ```
    """
    if kind == NONE:
        return probabilities
    p = ops.cast(probabilities, "float32")
    if kind == SOFTMAX:
        return ops.log(ops.clip(p, _TINY, 1.0))
    p = ops.clip(p, 1e-7, 1.0 - 1e-7)
    return ops.log(p) - ops.log(1.0 - p)


class LogitsOf(keras.Model):
    """Calls a graph-less model and maps its probabilities to logits."""

    def __init__(self, model, kind, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.kind = kind

    def call(self, inputs, training=None):
        out = self.model(inputs, training=training)
        return probabilities_to_logits(out, self.kind)
