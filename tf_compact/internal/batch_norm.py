"""Batch-normalization statistics: find the layers, measure, recalibrate.

A BN layer normalizes with the statistics of the batch while it trains and
with its moving statistics in inference. The moving statistics are an
exponential average over the training steps, so they lag behind weights
that keep changing (a momentum of 0.999, as in `keras.applications`,
averages over the last thousands of steps), and they are plainly wrong
after the layers in front of a BN were pruned or slimmed. Recalibration
runs forward passes in which every BN layer normalizes with, and records,
the statistics of the batch while every other layer runs in inference mode
(no dropout, no augmentation), then sets each moving mean and variance to
the statistics pooled over the batches. Weights are not trained.

Example:

```python
done = recalibrate(slim, x_train, max_batches=100)
done.batches, done.seconds
```
"""

import itertools
import time

import keras
import numpy as np
import tensorflow as tf

from tf_compact.internal.validation import invalid
from tf_compact.internal.validation import validate_int

#: Examples per batch when `data` is one array (or dict of arrays).
DEFAULT_BATCH_SIZE = 64


class Recalibration:
    """What one `recalibrate` call did.

    Args:
        batches: Batches run.
        samples: Examples in them.
        layers: BN layers whose statistics were set.
        seconds: Wall time of the forward passes and the assignment.
    """

    def __init__(self, batches, samples, layers, seconds):
        self.batches = batches
        self.samples = samples
        self.layers = layers
        self.seconds = seconds

    def to_dict(self):
        """The fields as a JSON-able dict."""
        return {
            "batches": self.batches,
            "samples": self.samples,
            "layers": self.layers,
            "seconds": self.seconds,
        }

    def __repr__(self):
        return (
            f"Recalibration(batches={self.batches}, samples={self.samples}, "
            f"layers={self.layers}, seconds={self.seconds:.2f})"
        )


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


def recalibrate(model, data, max_batches=None, batch_size=DEFAULT_BATCH_SIZE):
    """Sets every BN layer's moving statistics from batches of `data`.

    Each BN layer (nested ones and frozen ones included) gets the mean and
    variance of its inputs pooled over the batches run, each batch
    normalized by its own statistics, every other layer in inference mode.
    The momenta, the weights and, when an error is raised, the statistics
    are left as they were.

    Args:
        model: A `keras.Model`; its BN statistics are changed in place.
        data: Inputs: an array or a dict of arrays (split into batches of
            `batch_size`), an `(x, y)` or `(x, y, sample_weight)` tuple of
            arrays, or an iterable of batches (e.g. a `tf.data.Dataset`),
            each an array, a dict, or an `(x, ...)` tuple.
        max_batches: Run at most this many batches; `None` runs all.
            Defaults to `None`.
        batch_size: Batch size for array data. Defaults to
            `DEFAULT_BATCH_SIZE`.

    Returns:
        A `Recalibration` (`batches`, `samples`, `layers`, `seconds`); all
        zero when `model` has no BN layer (`data` is then not read).

    Raises:
        ValueError: If `data` holds no batch, or an argument is invalid.
        TypeError: If `data` is neither arrays nor an iterable.

    Example:

    ```python
    recalibrate(slim, dataset, max_batches=100).batches
    ```
    """
    if max_batches is not None:
        max_batches = validate_int("max_batches", max_batches, minimum=1)
    batch_size = validate_int("batch_size", batch_size, minimum=1)
    norms = batch_norm_layers(model)
    if not norms:
        return Recalibration(0, 0, 0, 0.0)
    start = time.perf_counter()
    pooled = [None] * len(norms)
    batches = samples = 0
    with BatchStatistics(model, norms) as run:
        for x in itertools.islice(
            input_batches(data, batch_size, model), max_batches
        ):
            _, stats = run(x)
            for index, mean, variance, count in stats:
                pooled[index] = _pool(pooled[index], mean, variance, count)
            batches += 1
            samples += num_samples(x)
    if batches == 0:
        raise _no_batch(data)
    for layer, stats in zip(norms, pooled):
        if stats is not None:
            _assign(layer, stats[1], stats[2] / max(stats[0], 1.0))
    updated = sum(stats is not None for stats in pooled)
    seconds = time.perf_counter() - start
    return Recalibration(batches, samples, updated, seconds)


def batch_statistics_outputs(
    model,
    data,
    max_batches=None,
    batch_size=DEFAULT_BATCH_SIZE,
    compiled=True,
):
    """Outputs of `model` with every BN on the statistics of its batch.

    Nothing is updated: the moving statistics stay as they were. Every
    other layer runs in inference mode. Comparing these outputs with
    `model(x, training=False)` on the same batches shows whether the
    moving statistics match the weights. On one batch, the outputs are
    those of the model recalibrated on that batch (pooled moments are
    the moments of the whole), in inference mode.

    Args:
        model: A `keras.Model`.
        data: Inputs, as for `recalibrate`.
        max_batches: Run at most this many batches. Defaults to `None`.
        batch_size: Batch size for array data. Defaults to
            `DEFAULT_BATCH_SIZE`.
        compiled: Run the passes in one traced function (worth it for
            more than a few batches) or eagerly (no tracing, for a model
            run on a few batches once). Defaults to `True`.

    Returns:
        A list of `(x, outputs)` pairs, one per batch, outputs as NumPy.

    Raises:
        ValueError: If `data` holds no batch.

    Example:

    ```python
    (x, out), = batch_statistics_outputs(model, x_batch, batch_size=256)
    ```
    """
    if max_batches is not None:
        max_batches = validate_int("max_batches", max_batches, minimum=1)
    batch_size = validate_int("batch_size", batch_size, minimum=1)
    norms = batch_norm_layers(model)
    pairs = []
    with BatchStatistics(model, norms, compiled=compiled) as run:
        for x in itertools.islice(
            input_batches(data, batch_size, model), max_batches
        ):
            outputs, _ = run(x)
            pairs.append((x, keras.tree.map_structure(np.asarray, outputs)))
    if not pairs:
        raise _no_batch(data)
    return pairs


def output_change(model, data, max_batches=2, batch_size=DEFAULT_BATCH_SIZE):
    """How far the moving statistics move `model`'s outputs: a staleness
    measure.

    Runs `model` on batches of `data` in inference mode and with every BN
    on the statistics of its batch (`batch_statistics_outputs`), and
    returns `||inference - batch statistics|| / ||batch statistics||` over
    all outputs. A model whose moving statistics match its weights gives
    a small value (the sampling noise of a batch's statistics); one whose
    statistics lag gives a value near or above 1. Nothing of `model` is
    changed; the passes run eagerly.

    Args:
        model: A `keras.Model` (or `tf_keras` one).
        data: Inputs, as for `recalibrate`.
        max_batches: Batches run. Defaults to `2`.
        batch_size: Batch size for array data. Defaults to
            `DEFAULT_BATCH_SIZE`.

    Returns:
        A float >= 0; `0.0` for a model without BN layers.

    Raises:
        ValueError: If `data` holds no batch.

    Example:

    ```python
    if output_change(model, x_train[:128]) > 0.2:
        recalibrate(model, x_train, max_batches=100)
    ```
    """
    if not batch_norm_layers(model):
        return 0.0
    pairs = batch_statistics_outputs(
        model, data, max_batches, batch_size, compiled=False
    )
    change = total = 0.0
    for x, outputs in pairs:
        inference = model(x, training=False)
        for new, old in zip(
            keras.tree.flatten(outputs), keras.tree.flatten(inference)
        ):
            new = np.asarray(new, "float64")
            change += float(np.sum((np.asarray(old, "float64") - new) ** 2))
            total += float(np.sum(new**2))
    return float(np.sqrt(change / max(total, 1e-30)))


def input_batches(data, batch_size=DEFAULT_BATCH_SIZE, model=None):
    """Yields the model inputs of each non-empty batch of `data`.

    Args:
        data: As for `recalibrate`.
        batch_size: Batch size for array data. Defaults to
            `DEFAULT_BATCH_SIZE`.
        model: When given, each batch is checked against its input shape
            (an unbatched dataset is refused). Defaults to `None`.

    Yields:
        Arrays, tensors or dicts of them.

    Raises:
        TypeError: If `data` is neither arrays nor an iterable.
        ValueError: If a batch does not fit the model's input shape.
    """
    if data is None:
        raise invalid(
            "data",
            "an array, a dict of arrays, an (x, y) tuple or an iterable of "
            "batches",
            data,
        )
    arrays = _array_inputs(data)
    if arrays is not None:
        batches = _split(arrays, batch_size)
    elif isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(
            "Invalid value for argument `data`. Expected an array, a dict "
            "of arrays, an (x, y) tuple or an iterable of batches (e.g. a "
            "`tf.data.Dataset`). Received: data of type "
            f"{type(data).__name__}"
        )
    else:
        batches = (batch_inputs(batch) for batch in data)
    for index, x in enumerate(batches):
        if num_samples(x) == 0:
            continue
        if model is not None:
            _check_shape(model, x, index)
        yield x


def batch_inputs(batch):
    """The inputs of one batch: `x` of `(x, y[, sample_weight])`, else it.

    Args:
        batch: An array, tensor, dict, or tuple/list as Keras's `fit` takes.

    Returns:
        The inputs part.
    """
    if isinstance(batch, (tuple, list)) and 1 <= len(batch) <= 3:
        return batch[0]
    return batch


def num_samples(x):
    """Examples in one batch of inputs (array, tensor, dict or tuple)."""
    leaves = keras.tree.flatten(x)
    if not leaves:
        return 0
    shape = getattr(leaves[0], "shape", None)
    if shape is None or len(shape) == 0:
        return 1
    return int(shape[0])


def _array_inputs(data):
    """`data`'s inputs when it is arrays (not batches), else None."""
    if hasattr(data, "shape") and not hasattr(data, "element_spec"):
        return data
    if isinstance(data, dict) and data and _all_arrays(data.values()):
        return data
    if (
        isinstance(data, tuple)
        and 2 <= len(data) <= 3
        and all(_is_arrays(part) for part in data)
        and len({num_samples(part) for part in data}) == 1
    ):
        return data[0]
    return None


def _is_arrays(value):
    if isinstance(value, dict):
        return bool(value) and _all_arrays(value.values())
    return hasattr(value, "shape") and len(value.shape) > 0


def _all_arrays(values):
    return all(hasattr(v, "shape") and len(v.shape) > 0 for v in values)


def _split(x, batch_size):
    total = num_samples(x)
    for start in range(0, total, batch_size):
        yield keras.tree.map_structure(
            lambda a, s=start: a[s : s + batch_size], x
        )


def _check_shape(model, x, index):
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1 or not hasattr(x, "shape"):
        return
    expected = tuple(inputs[0].shape)
    shape = tuple(x.shape)
    fits = len(shape) == len(expected) and all(
        e is None or s is None or int(s) == e
        for s, e in zip(shape[1:], expected[1:])
    )
    if fits:
        return
    hint = ""
    if len(shape) == len(expected) - 1:
        hint = ": batch the data first (e.g. `dataset.batch(64)`)"
    raise ValueError(
        "Invalid value for argument `data`. Expected batches of shape "
        f"{expected} for the input of model '{model.name}'. Received: "
        f"batch {index} of shape {shape}{hint}."
    )


def _no_batch(data):
    received = type(data).__name__
    if hasattr(data, "shape"):
        received += f" of shape {tuple(data.shape)}"
    return ValueError(
        "Invalid value for argument `data`: BN recalibration needs at "
        "least one batch of inputs. Expected a non-empty array or an "
        f"iterable of batches. Received: data={received} with no batch"
    )


def _pool(pooled, mean, variance, count):
    """Merges one batch's moments into `(count, mean, sum of squares)`."""
    mean = np.asarray(mean, "float64").reshape(-1)
    squares = np.asarray(variance, "float64").reshape(-1) * count
    if pooled is None:
        return (float(count), mean, squares)
    total, old_mean, old_squares = pooled
    new_total = total + count
    delta = mean - old_mean
    return (
        new_total,
        old_mean + delta * (count / new_total),
        old_squares + squares + delta**2 * (total * count / new_total),
    )


def _assign(layer, mean, variance):
    shape = tuple(layer.moving_mean.shape)
    dtype = keras.backend.standardize_dtype(layer.moving_mean.dtype)
    variance = np.maximum(variance, 0.0)
    layer.moving_mean.assign(np.reshape(mean, shape).astype(dtype))
    layer.moving_variance.assign(np.reshape(variance, shape).astype(dtype))
    stddev = getattr(layer, "moving_stddev", None)
    if getattr(layer, "renorm", False) and stddev is not None:
        stddev.assign(
            np.reshape(np.sqrt(variance + layer.epsilon), shape).astype(dtype)
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

        def forward(x):
            self._records = []
            outputs = self.model(x, training=False)
            self._order = [record[0] for record in self._records]
            return outputs, [record[1:] for record in self._records]

        # A function of its own per object: no retracing warning.
        self._step = (
            tf.function(forward, reduce_retracing=True)
            if compiled
            else forward
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
