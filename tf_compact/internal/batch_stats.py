"""Batch-normalization layers found in a model, and a forward pass on the
statistics of each batch.

`batch_norm_layers` finds every BN layer, nested models and wrappers
included. `BatchStatistics` runs a model with every BN normalizing by the
batch's own statistics and every other layer in inference mode, changing
nothing in the model: what a recalibrated copy would compute, without
the copy.

Example:

```python
with BatchStatistics(model, batch_norm_layers(model)) as run:
    outputs = run(x)
```
"""

import keras
import numpy as np
import tensorflow as tf


def is_batch_norm(layer):
    """Whether `layer` keeps moving BN statistics that recalibration sets.

    Any `keras.layers.BatchNormalization` (synchronized or not, and its
    subclasses) is one, and so is a layer of another class named
    `...BatchNormalization` with `moving_mean`, `moving_variance`, `axis`
    and `epsilon` (a `SyncBatchNormalization`, for one).
    """
    if isinstance(layer, keras.layers.BatchNormalization):
        return True
    return type(layer).__name__.endswith("BatchNormalization") and all(
        hasattr(layer, name)
        for name in ("moving_mean", "moving_variance", "axis", "epsilon")
    )


def batch_norm_layers(model):
    """Every BN layer of `model`, each once, in layer order.

    Nested models and layers that hold layers (custom blocks) are searched
    too.

    Args:
        model: A `keras.Model` or layer.

    Returns:
        A list of layers.
    """
    if is_batch_norm(model):
        return [model]
    found, seen = [], {id(model)}

    def visit(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if is_batch_norm(layer):
            found.append(layer)
            return
        for child in _children(layer):
            visit(child)

    for child in _children(model):
        visit(child)
    return found


def _children(layer):
    children = list(getattr(layer, "layers", None) or ())
    tracked = list(getattr(layer, "_layers", None) or ())
    # A wrapper (tfmot's `QuantizeWrapperV2` around a `tf_keras` BN, a
    # `keras.layers.Wrapper`) holds its layer as `.layer`.
    wrapped = getattr(layer, "layer", None)
    if wrapped is not None and hasattr(wrapped, "weights"):
        tracked.append(wrapped)
    children += [c for c in tracked if not any(c is d for d in children)]
    return children


def no_batch_error(data):
    received = type(data).__name__
    if hasattr(data, "shape"):
        received += f" of shape {tuple(data.shape)}"
    return ValueError(
        "Invalid value for argument `data`: BN recalibration needs at "
        "least one batch of inputs. Expected a non-empty array or an "
        f"iterable of batches. Received: data={received} with no batch"
    )


class BatchStatistics:
    """Runs a model with its BN layers on batch statistics, read-only.

    Inside the `with` block every BN layer's `call` is replaced by one
    that normalizes with the moments of its input (assigning nothing) and
    records them; calling the object runs the model in inference mode and
    returns `(outputs, [(layer index, mean, variance, count), ...])`.
    Leaving the block restores every `call`; nothing else of the model is
    touched. One object may be entered again and again: its traced
    function is kept, so repeated measurements of one model trace once.

    Args:
        model: A `keras.Model` (Keras 3, or a `tf_keras` one).
        norms: Its BN layers (`batch_norm_layers(model)`).
        compiled: Trace the forward pass once (`True`) or run it eagerly.
            Defaults to `True`.

    Example:

    ```python
    with BatchStatistics(model, batch_norm_layers(model)) as run:
        outputs, stats = run(x)
    ```
    """

    def __init__(self, model, norms, compiled=True):
        self.model = model
        self.norms = norms
        self._records = []
        self._order = []

        forward = _Forward(self)
        # TensorFlow counts the traces of functions by their code, so that
        # a new object per measurement (a new slim model each round) would
        # warn of retracing; a callable object is counted on its own.
        self._step = (
            tf.function(forward, reduce_retracing=True) if compiled else forward
        )

    def __enter__(self):
        for index, layer in enumerate(self.norms):
            object.__setattr__(layer, "call", self._call_of(index, layer))
        return self

    def __exit__(self, *exc_info):
        for layer in self.norms:
            if "call" in vars(layer):
                object.__delattr__(layer, "call")
        return False

    def __call__(self, x):
        outputs, values = self._step(x)
        stats = [
            (index, np.asarray(mean), np.asarray(variance), float(count))
            for index, (mean, variance, count) in zip(self._order, values)
        ]
        return outputs, stats

    def _call_of(self, index, layer):
        def call(inputs, training=None, mask=None):
            outputs, mean, variance, count = _normalize(layer, inputs, mask)
            self._records.append((index, mean, variance, count))
            return outputs

        return call


class _Forward:
    """One `BatchStatistics`'s forward pass: outputs and recorded moments."""

    def __init__(self, owner):
        self.owner = owner

    def __call__(self, x):
        owner = self.owner
        owner._records = []
        outputs = owner.model(x, training=False)
        owner._order = [record[0] for record in owner._records]
        return outputs, [record[1:] for record in owner._records]


def _normalize(layer, inputs, mask=None):
    """BN of `inputs` with their own moments: `(outputs, mean, var, n)`."""
    ops = keras.ops
    dtype = keras.backend.result_type(inputs.dtype, "float32")
    x = ops.cast(inputs, dtype)
    rank = len(x.shape)
    axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
    axis = axis % rank
    axes = [a for a in range(rank) if a != axis]
    if mask is None:
        mean, variance = ops.moments(
            x, axes, synchronized=getattr(layer, "synchronized", False)
        )
        count = ops.cast(ops.size(x), "float32") / x.shape[axis]
    else:
        weights = ops.cast(mask, dtype)
        while len(weights.shape) < rank:
            weights = ops.expand_dims(weights, -1)
        weights = ops.broadcast_to(weights, ops.shape(x))
        count = ops.maximum(ops.sum(weights, axis=axes), 1.0)
        mean = ops.sum(x * weights, axis=axes) / count
        shape = [1] * rank
        shape[axis] = -1
        centered = x - ops.reshape(mean, shape)
        variance = ops.sum(weights * centered**2, axis=axes) / count
        count = count[0]
    gamma = ops.cast(layer.gamma, dtype) if layer.scale else None
    beta = ops.cast(layer.beta, dtype) if layer.center else None
    outputs = ops.batch_normalization(
        x,
        mean,
        variance,
        axis=axis,
        offset=beta,
        scale=gamma,
        epsilon=layer.epsilon,
    )
    return ops.cast(outputs, layer.compute_dtype), mean, variance, count
