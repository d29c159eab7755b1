"""The MACs and parameters the `compress` stages record for a model.

A convolution's MACs grow with the height and width of its input. For a
model whose input takes any size (`keras.Input((None, None, 3))`) they
are counted at the input size of the run's data (the test data, else the
validation data, else the training data: the size the TFLite latencies
are timed at too), which the record keeps as `macs_at`. When the data
does not fix a size either (a dataset whose element spec leaves it
`None`), the MACs are unknown: `None`, never the few MACs of the layers
whose shapes happen to be known. Layers whose cost stays unknown for
another reason (no cost function) count as 0 MACs and are named in
`macs_left_out`. The report says both in plain words
(`tf_compact.pipeline.report`).
"""

import warnings

import keras

from tf_compact.profile import profile
from tf_compact.pruning.validation import fixed_size_example
from tf_compact.pruning.validation import free_input_shape


def model_costs(model, datasets=()):
    """The MACs and parameters of `model`, for a stage record.

    Args:
        model: a built Functional or Sequential `keras.Model`.
        datasets: batched `tf.data.Dataset`s of `(x, y)` (or `None`s), in
            order of preference; for a model whose input takes any size,
            the MACs are counted at the input size of the first that fixes
            one. Defaults to `()`.

    Returns:
        A dict with `macs` (an int, or `None` when unknown) and `params`;
        for a model whose input takes any size, also `free_input_shape`
        (its input shape, `None` for the free sizes) and, when a dataset
        fixed the size, `macs_at` (one shape per input, batch axis left
        out); `macs_left_out` lists the layer calls counted as 0 MACs
        because their cost is unknown, when there are any.

    Example:

    ```python
    model = keras.Sequential([keras.Input((None, None, 1)), ...])
    model_costs(model, [test_data])
    # {"macs": 1467968, "params": 14570, "free_input_shape": [None, None,
    #  None, 1], "macs_at": [[28, 28, 1]]}
    ```
    """
    free = free_input_shape(model)
    at = data_input_shape(model, datasets) if free is not None else None
    with warnings.catch_warnings():
        # What `profile` warns of is kept in the record instead.
        warnings.simplefilter("ignore")
        prof = profile(model, input_shape=at)
    record = {"macs": int(prof.macs), "params": int(prof.params)}
    if free is not None:
        record["free_input_shape"] = list(free)
        if at is None:
            record["macs"] = None
            return record
        record["macs_at"] = [list(shape) for shape in at]
    if prof.unknown_layers:
        record["macs_left_out"] = list(prof.unknown_layers)
    return record


def data_input_shape(model, datasets):
    """The input size(s) at which to count `model`'s MACs, or `None`.

    Args:
        model: a `keras.Model`.
        datasets: batched `tf.data.Dataset`s of `(x, y)` (or `None`s).

    Returns:
        A list with one shape per model input (batch axis left out, in
        `model.inputs` order), from the element spec of the first dataset
        whose inputs all have a fixed size that `model` takes; `None` when
        no dataset has.
    """
    for dataset in datasets:
        spec = getattr(dataset, "element_spec", None)
        if isinstance(spec, tuple) and spec:
            spec = spec[0]  # the inputs of (x, y) or (x, y, sample_weight)
        shapes = _fixed_shapes(model, spec)
        if shapes is not None:
            return shapes
    return None


def _fixed_shapes(model, spec):
    """The shapes of `spec` without the batch axis when they fit `model`'s
    inputs one by one and are fully known, else `None`."""
    if spec is None:
        return None
    refs = keras.tree.flatten(model.inputs)
    given = keras.tree.flatten(spec)
    if len(given) != len(refs):
        return None
    shapes = []
    for ref, part in zip(refs, given):
        shape = getattr(part, "shape", None)
        if shape is None or shape.rank != len(ref.shape):
            return None
        sizes = shape.as_list()[1:]
        wanted = tuple(ref.shape)[1:]
        if any(size is None for size in sizes) or any(
            w is not None and w != size for w, size in zip(wanted, sizes)
        ):
            return None
        shapes.append(tuple(sizes))
    return shapes


def macs_notes(records):
    """Plain-words notes on how the MACs of stage records were counted.

    Args:
        records: the records of `model_costs` (or stage records holding
            their keys), e.g. the teacher's and the student's.

    Returns:
        A list of sentences, each once: the input size the MACs were
        counted at, why they are unknown (`None`), and which layer calls
        they leave out; empty when the MACs need no note.
    """
    notes = []
    for record in records:
        for note in _notes(record or {}):
            if note not in notes:
                notes.append(note)
    return notes


def _notes(record):
    free = record.get("free_input_shape")
    if free is not None:
        shape = tuple(free)
        if record.get("macs") is None:
            yield (
                f"MACs n/a: the model's input takes any size (input shape "
                f"{shape}) and the run's data does not fix one (its element "
                "spec leaves the size `None`). MACs grow with the input "
                "size, so they are unknown: feed batches of one fixed "
                "shape, or rebuild the model on the size it runs at (e.g. "
                f"{fixed_size_example(shape)}), to count them."
            )
        elif record.get("macs_at"):
            yield (
                f"MACs counted at input size {_size(record['macs_at'])}, "
                "the size of the run's data: the model's input takes any "
                f"size (input shape {shape}), and its MACs grow with it."
            )
    left = record.get("macs_left_out")
    if left:
        shown = ", ".join(f"'{path}'" for path in left[:8])
        if len(left) > 8:
            shown += f" and {len(left) - 8} more"
        yield (
            f"MACs leave out {len(left)} layer call(s) whose cost is "
            f"unknown, counted as 0: {shown}. `tfc.profile(model)` says "
            "why; `tf_compact.profile.register_macs(layer_cls, fn)` adds "
            "a cost function."
        )


def _size(shapes):
    """`28×28×1`, or `28×28×1 and 4` for several inputs."""
    return " and ".join("×".join(str(d) for d in shape) for shape in shapes)
