"""Representative data for full-integer calibration and for verification."""

import itertools

import numpy as np


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

    Arrays give one row per batch; datasets, iterables and callables give
    their elements, `(x, y)` reduced to `x`, single samples batched.
    `argument` names the caller's argument in error messages.

    Example:

    ```python
    first = next(as_batches(train_dataset, input_rank=4))
    ```
    """
    if callable(data) and not hasattr(data, "as_numpy_iterator"):
        data = data()
    if isinstance(data, np.ndarray):
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


def representative_fn(data, input_rank, num_calibration_steps=100):
    """Builds the converter's `representative_dataset` callable.

    Args:
        data: A numpy array of inputs (one calibration step per row), a
            `tf.data.Dataset` of inputs or `(x, y)` pairs, batched or not,
            an iterable of such, or a callable returning one.
        input_rank: Rank of the model input, batch included.
        num_calibration_steps: How many batches to feed. Defaults to `100`.

    Returns:
        A zero-argument callable yielding `[batch]` lists, as
        `tf.lite.TFLiteConverter.representative_dataset` expects.

    Raises:
        TypeError: If `data` is of an unsupported type.
        ValueError: If `num_calibration_steps` is not a positive int.

    Example:

    ```python
    fn = representative_fn(x_train[:200], input_rank=4)
    ```
    """
    validate_source(data)
    validate_steps(num_calibration_steps)

    def generate():
        batches = as_batches(data, input_rank)
        for x in itertools.islice(batches, num_calibration_steps):
            yield [x]

    return generate


def verification_batch(data, input_shape, max_rows=64, seed=0):
    """Returns float32 inputs to compare TFLite with Keras on.

    Args:
        data: Representative data as accepted by `representative_fn`, or
            `None` to draw uniform values in [0, 1).
        input_shape: The model input shape, batch first (may hold `None`).
        max_rows: Largest number of rows to return. Defaults to `64`.
        seed: Seed for the random draw. Defaults to `0`.

    Returns:
        A float32 array, or `None` when `data` is `None` and the input has
        unknown non-batch dimensions.

    Example:

    ```python
    x = verification_batch(None, (None, 28, 28, 1))
    ```
    """
    if data is not None:
        rows, count = [], 0
        for x in as_batches(data, len(input_shape)):
            rows.append(x)
            count += len(x)
            if count >= max_rows:
                break
        if rows:
            return np.concatenate(rows)[:max_rows]
    dims = list(input_shape[1:])
    if any(d is None for d in dims):
        return None
    rng = np.random.default_rng(seed)
    return rng.uniform(size=[min(8, max_rows)] + dims).astype(np.float32)
