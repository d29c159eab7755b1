"""Folding a batch normalization into the `Dense` layer before it, for QAT.

tfmot quantizes a `Dense` kernel per tensor. For `Dense -> BatchNormalization`
it trains the unfolded kernel and lets the converter fold the BN afterwards:
scaling each output unit of a per-tensor-quantized kernel by a different
factor leaves the int8 file far from the model that was trained (a small
classifier trained this way scored at chance as a `.tflite`). Folding the BN
into the kernel and bias first (with its moving statistics, which is what it
computes at inference) makes the kernel that is fake-quantized during
training the one the file holds. The BN's statistics are frozen from then
on, as is usual when fine-tuning with QAT.
"""

import keras
import numpy as np

from tf_compact.internal import keras_compat


def _last_axis(layer):
    axis = layer.axis
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            return False
        axis = axis[0]
    rank = len(layer.input.shape)
    return axis in (-1, rank - 1)


def _producer(layer):
    """The one layer feeding `layer`, when `layer` is called once."""
    nodes = getattr(layer, "_inbound_nodes", [])
    if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
        return None
    history = getattr(nodes[0].input_tensors[0], "_keras_history", None)
    return history[0] if history else None


def dense_batch_norm_pairs(model):
    """The `(dense, batch_norm)` layer pairs of `model` that fold.

    A pair folds when the BN normalizes the last axis and is called once,
    on the output of a `Dense` without activation that is called once and
    feeds nothing else.

    Args:
        model: a built Keras 3 Sequential or Functional model (nested models
            are searched too).

    Returns:
        A dict from `id(batch_norm)` to `(dense, batch_norm)`.

    Example:

    ```python
    pairs = dense_batch_norm_pairs(model)
    ```
    """
    pairs = {}
    for layer in keras_compat.leaf_layers(model):
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        dense = _producer(layer)
        if not isinstance(dense, keras.layers.Dense):
            continue
        linear = keras.activations.serialize(dense.activation) == "linear"
        single = len(dense._inbound_nodes) == 1
        alone = len(dense._outbound_nodes) == 1
        if linear and single and alone and _last_axis(layer):
            pairs[id(layer)] = (dense, layer)
    return pairs


def folded_weights(dense, batch_norm):
    """`[kernel, bias]` of one `Dense` computing `batch_norm(dense(x))` at
    inference (moving statistics).

    Example:

    ```python
    kernel, bias = folded_weights(model.get_layer("fc"),
                                  model.get_layer("fc_bn"))
    ```
    """
    kernel = np.asarray(dense.kernel.numpy(), np.float64)
    units = kernel.shape[-1]
    bias = (
        np.asarray(dense.bias.numpy(), np.float64)
        if dense.use_bias
        else np.zeros(units)
    )
    gamma = batch_norm.gamma.numpy() if batch_norm.scale else np.ones(units)
    beta = batch_norm.beta.numpy() if batch_norm.center else np.zeros(units)
    mean = batch_norm.moving_mean.numpy()
    variance = batch_norm.moving_variance.numpy()
    scale = np.asarray(gamma, np.float64) / np.sqrt(
        np.asarray(variance, np.float64) + batch_norm.epsilon
    )
    return [
        (kernel * scale).astype(np.float32),
        ((bias - mean) * scale + beta).astype(np.float32),
    ]
