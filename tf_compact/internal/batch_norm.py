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

from tf_compact.internal.batch_stats import BatchStatistics
from tf_compact.internal.batch_stats import batch_norm_layers
from tf_compact.internal.batch_stats import no_batch_error
from tf_compact.internal.input_batches import DEFAULT_BATCH_SIZE
from tf_compact.internal.input_batches import input_batches
from tf_compact.internal.input_batches import num_samples
from tf_compact.internal.user_warning import warn
from tf_compact.internal.validation import validate_int


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
        raise no_batch_error(data)
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
        raise no_batch_error(data)
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


#: Batches of the training data that `recalibrate_data="auto"` runs.
AUTO_BATCHES = 100


def recalibrate_after_fit(model, data, fit_data, max_batches, owner):
    """A controller's train-end recalibration of `model`'s BN statistics.

    `data` is the controller's `recalibrate_data`: `None` does nothing,
    `"auto"` takes `fit_data` (what a tf_compact trainer's `fit` handed
    over, at most `AUTO_BATCHES` batches unless `max_batches` says), and
    anything else is recalibrated on. With `"auto"` and no `fit_data`, a
    model with BN layers gets a warning that says what to do.

    Returns:
        The `Recalibration`, or `None` when nothing ran.
    """
    if data is None:
        return None
    if isinstance(data, str):
        if fit_data is None:
            if batch_norm_layers(model):
                warn(
                    f"{owner}: the BN statistics of '{model.name}' were not "
                    "recalibrated: no training data reached the callback "
                    "(tfc.Sparsifier and tfc.Distiller hand over arrays, "
                    "datasets and PyDatasets given to `fit`; not generators "
                    "or unlabelled lists of inputs). Pass "
                    "recalibrate_data=x_train, or "
                    "call tfc.sparsity.recalibrate_batch_norm(slim, x_train) "
                    "on the slim model: stale statistics lower its accuracy "
                    "in inference mode.",
                )
            return None
        data, max_batches = fit_data, max_batches or AUTO_BATCHES
        try:
            return recalibrate(model, data, max_batches)
        except (ValueError, TypeError) as error:
            warn(
                f"{owner}: the BN statistics of '{model.name}' could not be "
                f"recalibrated on the data fit was given ({error}). Call "
                "tfc.sparsity.recalibrate_batch_norm(slim, x_train) on the "
                "slim model.",
            )
            return None
    return recalibrate(model, data, max_batches)
