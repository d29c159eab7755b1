"""Batches of model input read from arrays, datasets, iterables or callables.

Shared by int8 calibration (`tf_compact.lite`) and the data-fitted lighten
transforms, which both take "some inputs" in every form a user has.
"""

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
