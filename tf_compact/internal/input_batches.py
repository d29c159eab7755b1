"""Batches of model input read from arrays, datasets, iterables or callables.

Shared by int8 calibration (`tf_compact.lite`), the data-fitted lighten
transforms and batch-norm recalibration, which all take "some inputs" in
every form a user has: `as_batches` for calibration (a fixed input rank),
`input_batches` for forward passes checked against a model.
"""

import keras
import numpy as np

from tf_compact.internal import array_data
from tf_compact.internal.validation import invalid

#: Examples per batch when `data` is one array (or dict of arrays).
DEFAULT_BATCH_SIZE = 64


def validate_steps(num_calibration_steps, argument="num_calibration_steps"):
    """Raises `ValueError` unless the step count is an int >= 1.

    Example:

    ```python
    validate_steps(8)  # passes
    ```
    """
    if (
        isinstance(num_calibration_steps, bool)
        or not isinstance(num_calibration_steps, int)
        or num_calibration_steps < 1
    ):
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected an int >= 1. "
            f"Received: {argument}={num_calibration_steps!r}"
        )


def _features(element, argument="representative_data"):
    if isinstance(element, dict):
        raise TypeError(
            f"Invalid value for argument `{argument}`. Dict inputs are not "
            "supported; pass arrays or `(x, y)` batches."
        )
    if isinstance(element, (tuple, list)):
        return element[0]
    return element


def as_batches(data, input_rank, argument="representative_data"):
    """Yields float32 batches of model input from any supported source.

    Arrays, and the `x` of an `(x, y)` or `(x, y, sample_weight)` tuple of
    arrays, give one row per batch; datasets, iterables and callables give
    their elements, `(x, y)` reduced to `x`, single samples batched.
    `argument` names the caller's argument in error messages.

    Args:
        data: An array of samples (rank `input_rank`), a tuple of arrays
            `(x, y[, sample_weight])`, a `tf.data.Dataset`, an iterable,
            or a callable returning one.
        input_rank: Rank of the model input, batch included.
        argument: Name of the caller's argument, for messages. Defaults
            to `"representative_data"`.

    Yields:
        float32 arrays of rank `input_rank`.

    Raises:
        ValueError: If an array is not of rank `input_rank`, or an element
            is neither a sample nor a batch (rank `input_rank - 1` or
            `input_rank`).
        TypeError: If an element is a dict.

    Example:

    ```python
    first = next(as_batches(train_dataset, input_rank=4))
    ```
    """
    if callable(data) and not hasattr(data, "as_numpy_iterator"):
        data = data()
    data = _labeled_features(data, input_rank)
    if isinstance(data, np.ndarray):
        _check_array_rank(data, input_rank, argument)
        for i in range(len(data)):
            yield data[i : i + 1].astype(np.float32)
        return
    if hasattr(data, "as_numpy_iterator"):
        data = data.as_numpy_iterator()
    for element in data:
        x = np.asarray(_features(element, argument), dtype=np.float32)
        if x.ndim == input_rank - 1:
            x = x[None]
        if x.ndim != input_rank:
            raise ValueError(
                f"Invalid value for argument `{argument}`. Expected samples "
                f"of rank {input_rank - 1} or batches of rank {input_rank}. "
                f"Received: an element of shape {x.shape}"
            )
        yield x


def _check_array_rank(data, input_rank, argument):
    """Refuses an array whose rows are not samples of the input's rank."""
    if data.ndim == input_rank:
        return
    hint = ""
    if data.ndim == input_rank - 1:
        hint = (
            ": samples that lack an axis (e.g. the channels: `x[..., None]`)"
            " or one sample without the batch axis (`x[None]`)"
        )
    raise ValueError(
        f"Invalid value for argument `{argument}`. Expected an array of "
        f"rank {input_rank}, one sample of rank {input_rank - 1} per row. "
        f"Received: an array of shape {data.shape}{hint}"
    )


def _labeled_features(data, input_rank):
    """`x` of an `(x, y[, sample_weight])` tuple of arrays (Keras's rule,
    as in `_array_inputs`: 2 or 3 arrays of as many rows), when `x` is a
    whole array of inputs of rank `input_rank`, or of another rank and
    shape than `y` (to be refused); else `data` (a tuple of samples, whose
    shapes are all the same)."""
    x = _array_inputs(data) if isinstance(data, tuple) else None
    if not hasattr(x, "shape"):
        return data
    if len(x.shape) != input_rank and tuple(x.shape) == np.shape(data[1]):
        return data
    return np.asarray(x)


def validate_source(data, argument="representative_data"):
    """Raises `TypeError` unless `as_batches` can read `data`.

    Example:

    ```python
    validate_source(x_train[:100], argument="data")
    ```
    """
    ok = (
        isinstance(data, np.ndarray)
        or hasattr(data, "as_numpy_iterator")
        or callable(data)
        or hasattr(data, "__iter__")
    )
    if not ok:
        raise TypeError(
            f"Invalid type for argument `{argument}`. Expected a numpy "
            "array, a `tf.data.Dataset`, an iterable or a callable "
            f"returning one. Received: type={type(data).__name__}"
        )


def input_batches(data, batch_size=DEFAULT_BATCH_SIZE, model=None):
    """Yields the model inputs of each non-empty batch of `data`.

    Args:
        data: Arrays, a dict of arrays, an `(x, y[, w])` tuple of arrays,
            or an iterable of batches (e.g. a `tf.data.Dataset`).
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
    if model is not None and _inputs_of(model, data):
        arrays = tuple(data)  # the model's several inputs, no labels
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
            check_batch_shape(model, x, index)
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
    parts = array_data.array_parts(data)
    if parts is None:
        return None
    lengths = array_data.leaf_lengths(parts)
    if len({n for values in lengths.values() for n in values}) != 1:
        return None
    x = parts[0]
    # Several inputs travel as a tuple, as Keras passes them.
    return tuple(x) if isinstance(x, list) else x


def _inputs_of(model, data):
    """Whether `data` is a tuple or list of arrays, one per input of
    `model` and of its shape: inputs without labels, not `(x, y)`."""
    inputs = getattr(model, "inputs", None) or ()
    if not isinstance(data, (tuple, list)) or len(inputs) < 2:
        return False
    if len(data) != len(inputs) or not _all_arrays(data):
        return False
    return all(
        len(a.shape) == len(t.shape)
        and all(e is None or s == e for s, e in zip(a.shape[1:], t.shape[1:]))
        for a, t in zip(data, inputs)
    )


def _all_arrays(values):
    return all(hasattr(v, "shape") and len(v.shape) > 0 for v in values)


def _split(x, batch_size):
    total = num_samples(x)
    for start in range(0, total, batch_size):
        yield keras.tree.map_structure(
            lambda a, s=start: a[s : s + batch_size], x
        )


def check_batch_shape(model, x, index):
    """Refuses batch number `index`, `x`, if it does not fit the input of
    a one-input `model` (any dimension but the batch), naming `data`."""
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
