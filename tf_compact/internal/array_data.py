"""Arrays as `model.fit` takes them: `(x, y)` or `(x, y, sample_weight)`.

One reading of "data given as arrays" for every argument of tf_compact
that takes data: `x` is an array, or a list, tuple or dict of arrays (a
model with several inputs); `y` likewise (several outputs); the optional
third part holds sample weights. The parts come in a tuple; a list of
them is read so only where the data must be labelled (a list of two or
three arrays is otherwise a list of input batches), and data whose
parts are all lists or tuples is always a sequence of `(x, y)` batches
(so `x` and `y` may not both be sequences: give `x` as a dict then).
"""


def _is_array(value):
    shape = getattr(value, "shape", None)
    # A dataset has no shape; a scalar is no column of examples.
    return shape is not None and len(shape) >= 1


def _is_structure(value):
    """An array, or a non-empty flat list, tuple or dict of arrays."""
    if _is_array(value):
        return True
    if isinstance(value, dict):
        return bool(value) and all(_is_array(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_is_array(v) for v in value)
    return False


def array_parts(data, labelled=False):
    """`(x, y, sample_weight)` when `data` is arrays, else `None`.

    Args:
        data: anything a tf_compact data argument received.
        labelled: whether the argument takes labelled data only, so that
            a list `[x, y]` is arrays too (else a list is batches).
            Defaults to `False`.

    Returns:
        For a tuple or list `(x, y)` or `(x, y, sample_weight)` whose
        parts are arrays (anything with a shape of at least one axis:
        numpy arrays, tensors) or flat lists, tuples or dicts of them, the
        three parts (`sample_weight` `None` when not given); `None` for
        anything else (a dataset, an iterable of batches, a bare array). The
        parts' lengths are not compared: `leaf_lengths` gives them.

    Example:

    ```python
    array_parts(((x_image, x_meta), y))  # ((x_image, x_meta), y, None)
    array_parts([(x0, y0), (x1, y1)])  # None: a list of batches
    ```
    """
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        return None
    if isinstance(data, list) and not labelled:
        return None
    if all(isinstance(d, (list, tuple)) for d in data):
        # Every part a sequence: batches `(x, y)`, not one `x` and `y`.
        return None
    if not all(_is_structure(part) for part in data):
        return None
    weight = data[2] if len(data) == 3 else None
    return data[0], data[1], weight


def leaf_lengths(parts):
    """`{"x": [lengths], "y": [...], "sample_weight": [...]}` of the parts
    `array_parts` returned (first dimension of each array).

    Example:

    ```python
    leaf_lengths(array_parts((x, y)))  # {"x": [60000], "y": [60000]}
    ```
    """
    names = ("x", "y", "sample_weight")
    lengths = {}
    for name, part in zip(names, parts):
        if part is None:
            continue
        values = part.values() if isinstance(part, dict) else part
        leaves = [part] if _is_array(part) else list(values)
        lengths[name] = [int(leaf.shape[0]) for leaf in leaves]
    return lengths


def check_batched(name, x_spec, ranks):
    """Refuses a dataset whose inputs lack the batch axis.

    Args:
        name: the argument's name, for the message.
        x_spec: the `element_spec` of the dataset's inputs: one spec, a
            list or tuple of them in model order, or a dict by input name.
        ranks: `{input name: rank with the batch axis}`, in model order.

    Raises:
        ValueError: if an input has one axis less than the model's (the
            dataset was not batched); the message says to batch it.

    Example:

    ```python
    check_batched("dataset", dataset.element_spec[0], {"image": 4})
    ```
    """
    names = list(ranks)
    if isinstance(x_spec, dict):
        pairs = [(x_spec.get(key), ranks[key]) for key in names]
    elif isinstance(x_spec, (tuple, list)):
        pairs = list(zip(x_spec, ranks.values()))
    else:
        pairs = [(x_spec, ranks[names[0]])] if len(names) == 1 else []
    for leaf, rank in pairs:
        got = getattr(getattr(leaf, "shape", None), "rank", None)
        if got is not None and rank is not None and got == rank - 1:
            raise ValueError(
                f"Invalid value for argument `{name}`. Expected a batched "
                f"dataset: inputs of rank {rank} with the batch axis. "
                f"Received: inputs of shape {leaf.shape}; call "
                "`.batch(batch_size)` on the dataset."
            )
