"""The data of a `compress` run: checked, batched, labels made class ids."""

from tf_compact.data import inputs
from tf_compact.internal import heads


def split_data(train_data, val_data, test_data):
    """`(train, val, test)`, the splits of a `DatasetBundle` filling gaps.

    Raises:
        ValueError: if `train_data` is `None`.
    """
    if hasattr(train_data, "train") and hasattr(train_data, "test"):
        bundle = train_data
        if val_data is None:
            val_data = _bundle_split(bundle, "val")
        if test_data is None:
            test_data = _bundle_split(bundle, "test")
        train_data = bundle.train
    if train_data is None:
        raise ValueError(
            "Invalid value for argument `train_data`. Expected a batched "
            "dataset of (x, y) or a DatasetBundle. Received: None"
        )
    return train_data, val_data, test_data


def _bundle_split(bundle, split):
    """A bundle's `val`/`test` dataset, or None when it has no example."""
    count = getattr(bundle, "num_examples", None)
    if count is not None and count(split) == 0:
        return None
    return getattr(bundle, split)


def prepare_data(teacher, named, batch_size):
    """Checks and normalizes the data; returns the datasets and settings.

    Arrays become batched datasets, one-hot labels become class ids (for
    a softmax or logits head wider than one unit), and an empty, endless
    or unbatched dataset is refused by the name of its argument.

    Args:
        teacher: the teacher model (its input rank and head decide).
        named: `{"train_data": ..., "val_data": ..., "test_data": ...}`.
        batch_size: batch size of `(x, y)` arrays, or `None` (32).

    Returns:
        `{"datasets": [train, val, test], "batch_size": ..., "data":
        {name: signature}}`; the last two are recorded as settings.

    Raises:
        ValueError: for a teacher with several outputs, `batch_size`
            without arrays, or data that is empty, endless, unbatched or
            a one-shot iterator.
    """
    arrays = {k: v for k, v in named.items() if inputs.is_array_pair(v)}
    if batch_size is not None and not arrays:
        raise ValueError(
            "Argument `batch_size` only batches (x, y) arrays, and no data "
            f"was given as arrays. Received: batch_size={batch_size}"
        )
    _check_single_output(teacher)
    input_rank, width = _input_rank_and_width(teacher)
    one_hot = heads.head_kind(teacher) != heads.SIGMOID and (width or 0) > 1
    datasets, signatures = [], {}
    for name, value in named.items():
        dataset = inputs.as_dataset(
            name, value, batch_size if name in arrays else None
        )
        if dataset is not None:
            inputs.check_reiterable(name, dataset)
            inputs.check_not_empty(name, dataset)
            inputs.check_batched(name, dataset, input_rank)
            signatures[name] = inputs.signature(dataset, arrays.get(name))
            if one_hot:
                dataset = inputs.sparse_labels(dataset, width)
        datasets.append(dataset)
    return {
        "datasets": datasets,
        "batch_size": batch_size,
        "data": signatures,
    }


def _check_single_output(teacher):
    """Raises `ValueError` for a teacher with several outputs."""
    try:
        outputs = teacher.outputs
    except (AttributeError, ValueError):
        return
    if outputs and len(outputs) > 1:
        names = list(getattr(teacher, "output_names", None) or [])
        raise ValueError(
            "Invalid value for argument `teacher`. Expected a classifier "
            "with one output: `compress` distills, reports and exports a "
            f"single head. Received: teacher {teacher.name!r} with "
            f"{len(outputs)} outputs {names}. Pass a model of the head to "
            "compress, e.g. `keras.Model(teacher.inputs, "
            "teacher.outputs[0])`."
        )


def _input_rank_and_width(model):
    """`(rank of the first input, width of the first output)`, or Nones."""
    try:
        model_inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return None, None
    rank = len(model_inputs[0].shape) if model_inputs else None
    width = outputs[0].shape[-1] if outputs else None
    return rank, width
