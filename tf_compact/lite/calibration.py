"""Representative data for full-integer calibration and for verification."""

import itertools

import numpy as np

from tf_compact.internal import array_data
from tf_compact.internal.input_batches import as_batches
from tf_compact.internal.input_batches import validate_source
from tf_compact.internal.input_batches import validate_steps
from tf_compact.lite.integer_inputs import as_integer_input


def _cast(x, dtype, name=None):
    """`x` as the model input's dtype: float32 for a float input (or an
    unknown dtype), else `dtype` (float data must be whole numbers)."""
    if dtype is None or np.dtype(dtype).kind == "f":
        return np.asarray(x, dtype=np.float32)
    if np.dtype(dtype).kind in "iu":
        return as_integer_input(x, dtype, name)
    return np.asarray(x).astype(dtype)


def _ndim(value):
    """Rank of an array-like; -1 for a nested structure of arrays."""
    if hasattr(value, "ndim"):
        return value.ndim
    if isinstance(value, (list, tuple, dict)) and any(
        isinstance(v, (np.ndarray, list, tuple, dict)) for v in value
    ):
        return -1
    return np.ndim(value)


def _ranks_fit(parts, ranks):
    return len(parts) == len(ranks) and all(
        _ndim(p) in (r - 1, r) for p, r in zip(parts, ranks)
    )


def _arrays_of(data, names, argument):
    """One array per input from a Keras-style `x` for several inputs (a
    dict, list or tuple of numpy arrays), or `None` for anything else.

    Raises:
        ValueError: If a dict of arrays is keyed by other names.
    """
    if isinstance(data, dict):
        values = list(data.values())
    elif isinstance(data, (list, tuple)) and len(data) == len(names):
        values = list(data)
    else:
        return None
    if not values or not all(isinstance(a, np.ndarray) for a in values):
        return None
    if not isinstance(data, dict):
        return values
    if set(data) != set(names):
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected a dict "
            f"keyed by the model's input names {names}. Received: keys "
            f"{sorted(data)}"
        )
    return [data[n] for n in names]


def _as_rows(data, names, ranks, argument):
    """Keras-style `x` for several inputs, alone or as the `x` of arrays
    `(x, y[, sample_weight])`, as one calibration step per row; `None`
    when `data` is something else (steps, a dataset, a callable).

    Raises:
        ValueError: If the arrays are keyed by other names than the
            inputs', or are not of the inputs' ranks and all as long.
    """
    arrays = _arrays_of(data, names, argument)
    parts = array_data.array_parts(data)
    if arrays is None and parts is not None:
        arrays = _arrays_of(parts[0], names, argument)
    if arrays is None:
        return None
    for rank, a in zip(ranks, arrays):
        if a.ndim != rank or len(a) != len(arrays[0]):
            raise ValueError(
                f"Invalid value for argument `{argument}`. Expected one "
                f"array per model input {names}, of ranks {ranks} (one "
                "sample per row) and as many rows each. Received: arrays "
                f"of shapes {[x.shape for x in arrays]}"
            )
    return [[a[i : i + 1] for a in arrays] for i in range(len(arrays[0]))]


def _parts(element, names, ranks, argument):
    """One element of a multi-input source as one array per input."""
    for _ in range(2):
        if isinstance(element, dict) and set(element) >= set(names):
            return [element[n] for n in names]
        if isinstance(element, (list, tuple)):
            if _ranks_fit(element, ranks):
                return list(element)
            if element:
                element = element[0]
                continue
        break
    raise ValueError(
        f"Invalid value for argument `{argument}`. Expected for each step "
        f"one array per model input {names} (a list, a tuple or a dict "
        f"keyed by input name), alone or as `(x, y)`. Received: an element "
        f"of type {type(element).__name__}"
    )


def input_batches(data, specs, argument="representative_data", dtypes=None):
    """Yields one batch per model input, step after step.

    Args:
        data: The source, as for `representative_fn`. With several inputs,
            each element is a list/tuple of arrays (one per input, in
            `specs` order) or a dict keyed by input name, alone or as
            `(x, y)`; or `data` itself is a Keras-style `x`: a list, tuple
            or dict of numpy arrays, one calibration step per row, alone
            or as arrays `(x, y)` or `(x, y, sample_weight)` (as
            `model.fit` takes them; only `x` is read).
        specs: `(name, rank)` pairs, one per model input, in model order;
            rank includes the batch.
        argument: Name of the caller's argument, for messages. Defaults to
            `"representative_data"`.
        dtypes: The model inputs' dtypes, one per input, or `None`. Each
            batch is fed in its input's dtype (a `uint8` image input gets
            `uint8` data); float inputs, and all inputs when `None`, get
            float32. Defaults to `None`.

    Yields:
        Lists of arrays, one per input, each with a batch axis.

    Raises:
        ValueError: If an element does not hold one array per input, of
            the input's rank (or one less, for a single sample); or if a
            Keras-style `x` is keyed by other names than the inputs', or
            its arrays are not of the inputs' ranks and all as long.

    Example:

    ```python
    specs = [("image", 4), ("meta", 2)]
    first = next(input_batches([x_img, x_meta], specs))
    first = next(input_batches(({"image": x_img, "meta": x_meta}, y), specs))
    ```
    """
    names = [n for n, _ in specs]
    ranks = [r for _, r in specs]
    dtypes = list(dtypes) if dtypes is not None else [None] * len(specs)
    if len(specs) == 1:
        # as_batches reads float32, exact for 8- and 16-bit integer data.
        for x in as_batches(data, ranks[0], argument):
            yield [_cast(x, dtypes[0], names[0])]
        return
    if callable(data) and not hasattr(data, "as_numpy_iterator"):
        data = data()
    rows = _as_rows(data, names, ranks, argument)
    if rows is not None:
        data = rows
    elif hasattr(data, "as_numpy_iterator"):
        data = data.as_numpy_iterator()
    for element in data:
        batch = []
        for name, rank, dtype, part in zip(
            names, ranks, dtypes, _parts(element, names, ranks, argument)
        ):
            x = _cast(part, dtype, name)
            x = x[None] if x.ndim == rank - 1 else x
            if x.ndim != rank:
                raise ValueError(
                    f"Invalid value for argument `{argument}`. Expected "
                    f"input {name!r} of rank {rank - 1} (a sample) or "
                    f"{rank} (a batch). Received: shape={x.shape}"
                )
            batch.append(x)
        yield batch


def first_step(data, specs, argument="representative_data", dtypes=None):
    """Returns `(first, data)`: the first step of `data`, and a source that
    still yields it.

    A one-shot iterator is consumed by looking at it, so it is chained back
    behind its first element.

    Raises:
        ValueError: If `data` holds no sample.

    Example:

    ```python
    first, data = first_step(x_train[:100], [("image", 4)])
    ```
    """
    if hasattr(data, "__next__"):
        head = list(itertools.islice(data, 1))
        data = itertools.chain(head, data)
        probe = iter(head)
    else:
        probe = data
    first = next(iter(input_batches(probe, specs, argument, dtypes)), None)
    if first is None or any(len(x) == 0 for x in first):
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected at least "
            f"one sample to calibrate on. Received: {argument} holds no "
            "sample"
        )
    return first, data


def _rebatch(steps, size):
    """Regroups the rows of a stream of steps into steps of exactly `size`
    rows; rows short of a last full step are dropped.

    Raises:
        ValueError: when the steps hold fewer than `size` rows in all.
    """
    pending, full = None, 0
    for xs in steps:
        if pending is None:
            pending = list(xs)
        else:
            pending = [np.concatenate([p, x]) for p, x in zip(pending, xs)]
        while len(pending[0]) >= size:
            full += 1
            yield [p[:size] for p in pending]
            pending = [p[size:] for p in pending]
    if not full:
        rows = 0 if pending is None else len(pending[0])
        raise ValueError(
            "Invalid value for argument `representative_data`. Expected at "
            f"least {size} rows, the model's static batch size. Received: "
            f"{rows} rows"
        )


def representative_fn(
    data, input_rank, num_calibration_steps=100, batch_size=None, dtypes=None
):
    """Builds the converter's `representative_dataset` callable.

    Args:
        data: A numpy array of inputs (one calibration step per row), a
            `tf.data.Dataset` of inputs or `(x, y)` pairs, batched or not,
            an iterable of such, or a callable returning one. For several
            inputs, see `input_batches`.
        input_rank: Rank of the model input, batch included; or, for any
            number of inputs, a list of `(name, rank)` pairs in model
            order, names as in the converted model's signature.
        num_calibration_steps: How many steps of `data` to feed. Defaults
            to `100`.
        batch_size: `None` to feed each step of `data` as it comes, or the
            static batch size of a model that takes no other (a batch-1
            Edge TPU model): the rows of those steps are then fed in
            batches of exactly this size. Defaults to `None`.
        dtypes: The model inputs' dtypes, see `input_batches`. Defaults to
            `None` (float32).

    Returns:
        A zero-argument callable yielding `[batch]` lists for one input,
        or dicts from input name to batch for several, as
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
    specs = input_rank
    if isinstance(input_rank, int):
        specs = [(None, input_rank)]
    names = [n for n, _ in specs]

    def generate():
        batches = input_batches(data, specs, dtypes=dtypes)
        batches = itertools.islice(batches, num_calibration_steps)
        if batch_size is not None:
            batches = _rebatch(batches, batch_size)
        for xs in batches:
            yield xs if len(xs) == 1 else dict(zip(names, xs))

    return generate


def verification_inputs(data, shapes, max_rows=64, seed=0, dtypes=None):
    """Returns one array per model input to compare TFLite on.

    Args:
        data: Representative data as accepted by `input_batches`, or
            `None` to draw uniform values in [0, 1).
        shapes: `(name, shape)` pairs, one per model input in model order,
            batch first (may hold `None`).
        max_rows: Largest number of rows to return. Defaults to `64`.
        seed: Seed for the random draw. Defaults to `0`.
        dtypes: The model inputs' dtypes, see `input_batches`; an integer
            input's random draw covers an 8-bit input's range, else holds
            0 and 1. Defaults to `None` (float32).

    Returns:
        A list of arrays, or `None` when `data` gives nothing and an input
        has unknown non-batch dimensions.

    Example:

    ```python
    xs = verification_inputs(None, [("image", (None, 28, 28, 1))])
    ```
    """
    if data is not None:
        specs = [(name, len(shape)) for name, shape in shapes]
        steps, count = [], 0
        for xs in input_batches(data, specs, dtypes=dtypes):
            steps.append(xs)
            count += len(xs[0])
            if count >= max_rows:
                break
        if steps:
            return [np.concatenate(parts)[:max_rows] for parts in zip(*steps)]
    dims = [list(shape[1:]) for _, shape in shapes]
    if any(d is None for ds in dims for d in ds):
        return None
    rng = np.random.default_rng(seed)
    rows = min(8, max_rows)
    dtypes = list(dtypes) if dtypes is not None else [None] * len(dims)
    return [_draw(rng, [rows] + ds, t) for ds, t in zip(dims, dtypes)]


def _draw(rng, shape, dtype):
    if dtype is None or np.dtype(dtype).kind == "f":
        return rng.uniform(size=shape).astype(np.float32)
    dtype = np.dtype(dtype)
    high = 1
    if dtype.kind in "iu" and dtype.itemsize == 1:
        high = np.iinfo(dtype).max
    return rng.integers(0, high, shape, endpoint=True).astype(dtype)
