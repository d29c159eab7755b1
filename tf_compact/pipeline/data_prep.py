"""The data of a `compress` run: checked, batched, labels made class ids."""

import numpy as np
import tensorflow as tf

from tf_compact.data import inputs
from tf_compact.internal import heads
from tf_compact.internal import label_values
from tf_compact.pipeline import data_pass


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


def prepare_data(teacher, named, batch_size, num_classes=None):
    """Checks and normalizes the data; returns the datasets and settings.

    Arrays become batched datasets (the training ones reshuffled every
    epoch), one-hot labels become class ids (for a softmax or logits head
    wider than one unit), and an empty, endless or unbatched dataset, or
    one whose inputs or labels the teacher cannot take, is refused by the
    name of its argument.

    Args:
        teacher: the teacher model (its input rank and head decide).
        named: `{"train_data": ..., "val_data": ..., "test_data": ...}`.
        batch_size: batch size of `(x, y)` arrays, or `None` (32).
        num_classes: the classes of a `DatasetBundle`, or `None`.

    Returns:
        `{"datasets": [train, val, test], "batch_size": ..., "data":
        {name: signature}}`; the last two are recorded as settings.

    Raises:
        ValueError: for a teacher with several outputs, `batch_size`
            without arrays, data that is empty, endless, unbatched or a
            one-shot iterator, inputs of another shape than the teacher's,
            or more classes than the teacher's output has units.
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
    if one_hot and isinstance(num_classes, int) and num_classes > width:
        received = f"a DatasetBundle of {num_classes} classes"
        _refuse_classes(teacher, "train_data", width, received)
    datasets, signatures = [], {}
    for name, value in named.items():
        dataset = inputs.as_dataset(
            name,
            value,
            batch_size if name in arrays else None,
            # Training arrays are reshuffled each epoch, as `fit` does.
            shuffle=name == "train_data",
        )
        if dataset is not None:
            inputs.check_reiterable(name, dataset)
            inputs.check_not_empty(name, dataset)
            inputs.check_batched(name, dataset, input_rank)
            _check_fits_teacher(name, dataset, teacher, width)
            labels, digest = _labels_and_digest(name, dataset, arrays)
            _check_label_values(name, labels, teacher, width, one_hot)
            signatures[name] = inputs.signature(
                dataset, arrays.get(name), digest
            )
            if one_hot:
                dataset = inputs.sparse_labels(dataset, width)
        datasets.append(dataset)
    return {
        "datasets": datasets,
        "batch_size": batch_size,
        "data": signatures,
    }


def _check_single_output(teacher):
    """Raises `ValueError` for a teacher with several outputs, or with
    one prediction per pixel or step rather than per example."""
    try:
        outputs = teacher.outputs
    except (AttributeError, ValueError):
        return
    if outputs and len(outputs) > 1:
        raise ValueError(
            "Invalid value for argument `teacher`. Expected a classifier "
            "with one output: `compress` distills, reports and exports a "
            f"single head. Received: teacher {teacher.name!r} with "
            f"{len(outputs)} outputs: {_describe_outputs(teacher)}. Pass a "
            "model of the classifier head to compress, "
            "`keras.Model(teacher.inputs, teacher.outputs[i])` with `i` its "
            "index above."
        )
    shape = tuple(outputs[0].shape) if outputs else ()
    if len(shape) > 2:
        raise ValueError(
            "Invalid value for argument `teacher`. Expected a classifier "
            "with one prediction per example (outputs of shape (batch, "
            "classes)): `compress` scores accuracy, distills and exports "
            f"that. Received: teacher {teacher.name!r} with outputs of "
            f"shape {shape} (one prediction per pixel or step, as in "
            "segmentation or autoencoders). Compose the parts instead: "
            "`tfc.prune`, `tfc.Distiller` with your loss, `tfc.lite.convert`."
        )


def _describe_outputs(teacher):
    """`0 'box' (4 units, sigmoid), 1 'cls' (3 units, logits)`."""
    names = list(getattr(teacher, "output_names", None) or [])
    parts = []
    for i, tensor in enumerate(teacher.outputs):
        name = names[i] if i < len(names) else f"output_{i}"
        try:
            kind = heads.head_kind(teacher, i)
        except ValueError:
            kind = heads.NONE
        kind = "logits or linear" if kind == heads.NONE else kind
        parts.append(f"{i} {name!r} ({tensor.shape[-1]} units, {kind})")
    return ", ".join(parts)


class DataMismatchError(ValueError):
    """Data whose inputs or labels the teacher cannot take."""


def _check_fits_teacher(name, dataset, teacher, width):
    """Raises `ValueError` for inputs or label rows the teacher cannot take."""
    spec = getattr(dataset, "element_spec", None)
    if not isinstance(spec, tuple) or not isinstance(spec[0], tf.TensorSpec):
        return
    try:
        expected = tuple(teacher.inputs[0].shape)[1:]
    except (AttributeError, ValueError, IndexError, TypeError):
        return
    received = spec[0].shape
    received = tuple(received)[1:] if received.rank is not None else expected
    if len(received) != len(expected) or any(
        None not in (a, b) and a != b for a, b in zip(expected, received)
    ):
        raise DataMismatchError(
            f"Invalid value for argument `{name}`. Expected inputs of shape "
            f"{expected} (batch axis left out), as the teacher "
            f"{teacher.name!r} takes. Received: inputs of shape {received}."
        )
    y_shape = getattr(spec[1], "shape", None) if len(spec) > 1 else None
    if y_shape is None or y_shape.rank != 2 or not width:
        return
    if y_shape[-1] not in (None, 1, width):
        raise DataMismatchError(
            f"Invalid value for argument `{name}`. Expected labels of "
            f"shape (None,), (None, 1) or (None, {width}): class ids, or "
            f"rows as wide as the output of the teacher {teacher.name!r}. "
            f"Received: labels of shape {tuple(y_shape)}."
        )


def _labels_and_digest(name, dataset, arrays):
    """`(labels, digest)` of one named dataset: the arrays' labels (their
    digest is the arrays' own), or one pass over a `tf.data.Dataset` for
    all its labels and a digest of its examples (of the labels only for
    `train_data`, whose pipeline may augment at random)."""
    if name in arrays:
        return arrays[name][1], None
    if not isinstance(dataset, tf.data.Dataset):
        return None, None
    with_inputs = name != "train_data"
    labels, digest = data_pass.read_through(dataset, with_inputs)
    if digest is not None:
        digest = f"{'examples' if with_inputs else 'labels'} {digest}"
    return labels, digest


def _check_label_values(name, labels, teacher, width, one_hot):
    """Raises `ValueError` for labels that are not classification labels
    of the teacher's head: class ids beyond its width, regression targets,
    multi-hot rows for a softmax head, class ids for a sigmoid head."""
    if labels is None or isinstance(labels, dict) or not width:
        return
    labels = np.asarray(labels)
    if not labels.size or not np.issubdtype(labels.dtype, np.number):
        return
    single = labels.ndim == 1 or (labels.ndim == 2 and labels.shape[1] == 1)
    if one_hot and single and labels.max() >= width:
        _refuse_classes(teacher, name, width, f"class ids up to {labels.max()}")
    try:
        found = label_values.label_format(labels, width)
    except label_values.LabelValueError as error:
        raise DataMismatchError(
            f"Invalid value for argument `{name}`. Expected classification "
            f"labels for the output of the teacher {teacher.name!r} "
            f"({width} units): {error}."
        ) from None
    sigmoid = width > 1 and not one_hot
    if found == label_values.MULTI_HOT and one_hot:
        head = heads.head_kind(teacher)
        head = "logits" if head == heads.NONE else f"a {head} head"
        _refuse_format(name, teacher, head, "multi-hot rows")
    if found == label_values.INDICES and sigmoid:
        _refuse_format(name, teacher, "a sigmoid head", "class ids")


def _refuse_format(name, teacher, head, received):
    expected = (
        "0/1 rows as wide as its output (multi-label), one unit per label"
        if head == "a sigmoid head"
        else "class ids or one-hot rows; multi-hot (multi-label) rows need "
        "a sigmoid head"
    )
    raise DataMismatchError(
        f"Invalid value for argument `{name}`. The teacher "
        f"{teacher.name!r} ends in {head}: expected {expected}. "
        f"Received: {received}."
    )


def _refuse_classes(teacher, name, width, received):
    raise DataMismatchError(
        f"Invalid value for argument `{name}`. Expected class ids below "
        f"{width}, the width of the output of the teacher {teacher.name!r}. "
        f"Received: {received}."
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
