"""Labeled data as users hand it over, turned into batched `tf.data`.

Wherever `model.fit` takes `(x, y)` numpy arrays, tf_compact does too: a
tuple (or list) `(x, y)` of arrays becomes a `tf.data.Dataset` of batches
of `batch_size`: in order, or for training in a new order every epoch
(as `fit` shuffles arrays). These helpers also refuse, by argument name,
what would otherwise fail late or silently: an empty or endless dataset,
a dataset that was not batched, arrays of different lengths.
"""

import hashlib

import numpy as np
import tensorflow as tf

from tf_compact.data.bundle import validate_batch_size
from tf_compact.internal import array_data

#: Batch size of `(x, y)` arrays when none is given, as in `model.fit`.
DEFAULT_BATCH_SIZE = 32


def is_array_pair(data):
    """Whether `data` is arrays as `model.fit` takes them.

    Args:
        data: anything.

    Returns:
        `True` for a tuple or list `(x, y)` or `(x, y, sample_weight)` of
        arrays (numpy arrays, tensors), where `x` and `y` may also be
        lists, tuples or dicts of arrays (several inputs or outputs);
        `False` otherwise (a list of `(x, y)` batches, a dataset, ...).

    Example:

    ```python
    is_array_pair((x_train, y_train))  # True
    is_array_pair(((x_image, x_meta), y_train))  # True
    ```
    """
    return array_data.array_parts(data, labelled=True) is not None


def as_dataset(name, data, batch_size=None, shuffle=False):
    """`data` as a batched dataset of `(x, y)`.

    Args:
        name: the argument's name, for error messages.
        data: a batched `tf.data.Dataset`, arrays `(x, y)` or `(x, y,
            sample_weight)` with the same first dimension (`x` and `y`
            may be lists, tuples or dicts of arrays, see `is_array_pair`),
            another iterable of `(x, y)` batches (returned as is), or
            `None` (returned as is).
        batch_size: batch size of `(x, y)` arrays; must be `None` for
            anything else, whose batches are already made. Defaults to
            `None` (`DEFAULT_BATCH_SIZE` for arrays).
        shuffle: draw the batches of `(x, y)` arrays in a new order each
            time the dataset is read (each epoch), as `model.fit` does
            with arrays; the order follows TensorFlow's global seed
            (`keras.utils.set_random_seed`). Other data is returned as
            is, its order its own. Defaults to `False`.

    Returns:
        A `tf.data.Dataset` for arrays, else `data` itself.

    Raises:
        ValueError: if `x` and `y` differ in length, or `batch_size` is
            given for data that is already batched.
        TypeError: if `data` is not iterable.

    Example:

    ```python
    train = as_dataset("train_data", (x_train, y_train), 64, shuffle=True)
    test = as_dataset("test_data", (x_test, y_test), batch_size=64)
    ```
    """
    if batch_size is not None:
        validate_batch_size(batch_size)
    if data is None:
        return None
    parts = array_data.array_parts(data, labelled=True)
    if parts is not None:
        parts = _numpy_parts(name, parts)
        size = batch_size or DEFAULT_BATCH_SIZE
        if shuffle:
            return _shuffled_batches(parts, size)
        return tf.data.Dataset.from_tensor_slices(parts).batch(size)
    if batch_size is not None:
        raise ValueError(
            "Argument `batch_size` only batches (x, y) arrays: "
            f"`{name}` is already batched. Received: batch_size="
            f"{batch_size} with {name} of type {type(data).__name__}"
        )
    if not hasattr(data, "__iter__"):
        raise TypeError(
            f"Invalid value for argument `{name}`. Expected a batched "
            "tf.data.Dataset of (x, y) or a tuple (x, y) of arrays. "
            f"Received: {name} of type {type(data).__name__}"
        )
    return data


def _numpy_parts(name, parts):
    """The parts `(x, y[, w])` as numpy structures of one length."""
    lengths = array_data.leaf_lengths(parts)
    if len({n for values in lengths.values() for n in values}) > 1:
        received = ", ".join(f"{k} lengths {v}" for k, v in lengths.items())
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected arrays (x, y) "
            "or (x, y, sample_weight) with as many labels (and weights) as "
            f"examples. Received: {received}"
        )
    # tf.data reads a list as one tensor to stack: several inputs or
    # outputs travel as a tuple, as Keras passes them.
    return tuple(
        tuple(np.asarray(a) for a in part)
        if isinstance(part, (list, tuple))
        else tf.nest.map_structure(np.asarray, part)
        for part in parts
        if part is not None
    )


def _shuffled_batches(parts, batch_size):
    """Batches of `parts` in a new order each time they are read.

    Only the indices go through the shuffle buffer (one integer per
    example); every batch is gathered from the arrays, held once as
    tensors.
    """
    tensors = tf.nest.map_structure(tf.convert_to_tensor, parts)
    total = len(tf.nest.flatten(parts)[0])
    indices = tf.data.Dataset.range(total).shuffle(
        max(total, 1), reshuffle_each_iteration=True
    )
    return indices.batch(batch_size).map(
        lambda i: tf.nest.map_structure(lambda t: tf.gather(t, i), tensors)
    )


def check_reiterable(name, data):
    """Checks that `data` can be read more than once.

    Args:
        name: the argument's name, for error messages.
        data: a dataset or iterable of `(x, y)` batches.

    Raises:
        ValueError: if `data` is a one-shot iterator (a generator, or what
            `iter()` returns), which the first epoch would use up.

    Example:

    ```python
    check_reiterable("train_data", train)
    ```
    """
    if hasattr(data, "__next__") and iter(data) is data:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a batched "
            "tf.data.Dataset of (x, y), a tuple (x, y) of arrays or another "
            "iterable that can be read again: the data is read once per "
            "epoch and stage, and an iterator is used up by the first pass. "
            "Wrap a generator with `tf.data.Dataset.from_generator`. "
            f"Received: {name} of type {type(data).__name__}"
        )


def check_not_empty(name, dataset):
    """Checks that `dataset` yields at least one example and ends.

    Args:
        name: the argument's name, for error messages.
        dataset: a batched dataset or iterable of `(x, y)` batches.

    Raises:
        ValueError: if the dataset has no batch, its first batch has no
            example, or it repeats forever.

    Example:

    ```python
    check_not_empty("val_data", val)
    ```
    """
    cardinality = _cardinality(dataset)
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a finite "
            "dataset (one pass is one epoch). Received: a dataset that "
            "repeats forever; remove its `.repeat()`."
        )
    if cardinality == 0:
        raise ValueError(_empty_message(name, "0 batches"))
    if cardinality is not None and cardinality > 0:
        return
    if not isinstance(dataset, tf.data.Dataset):
        if hasattr(dataset, "__len__") and len(dataset) == 0:
            raise ValueError(_empty_message(name, "0 batches"))
        return
    for batch in dataset:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        shape = getattr(tf.nest.flatten(x)[0], "shape", None)
        if shape is not None and len(shape) and shape[0] == 0:
            raise ValueError(_empty_message(name, "a batch of 0 examples"))
        return
    raise ValueError(_empty_message(name, "0 batches"))


def check_batched(name, dataset, input_rank):
    """Checks that a dataset's inputs carry a batch axis.

    Args:
        name: the argument's name, for error messages.
        dataset: a `tf.data.Dataset` of `(x, y)`; other iterables pass.
        input_rank: the rank of the model's input, batch axis included.

    Raises:
        ValueError: if the inputs have one axis less than the model's
            input (an unbatched dataset).

    Example:

    ```python
    check_batched("train_data", train, len(model.inputs[0].shape))
    ```
    """
    spec = getattr(dataset, "element_spec", None)
    if not isinstance(spec, (tuple, list)) or input_rank is None:
        return
    # The first input's rank: that of the others is not known here.
    array_data.check_batched(name, spec[0], {"input": input_rank})


def sparse_labels(dataset, num_classes):
    """Maps one-hot labels of a dataset to integer class ids.

    Labels whose last axis has `num_classes` entries (as
    `keras.utils.to_categorical` makes them) become their argmax; other
    labels (already integer ids) are left alone.

    Args:
        dataset: a `tf.data.Dataset` of `(x, y)` or `(x, y, w)`; other
            iterables are returned unchanged.
        num_classes: the width of the model's output (more than 1).

    Returns:
        The dataset, with integer labels.

    Example:

    ```python
    train = sparse_labels(train, num_classes=10)
    ```
    """
    spec = getattr(dataset, "element_spec", None)
    if not isinstance(spec, tuple) or len(spec) < 2:
        return dataset
    y_spec = spec[1]
    shape = getattr(y_spec, "shape", None)
    if shape is None or shape.rank != 2 or shape[-1] != num_classes:
        return dataset

    def to_ids(x, y, *rest):
        return (x, tf.argmax(y, axis=-1, output_type=tf.int32), *rest)

    return dataset.map(to_ids)


def signature(dataset, arrays=None, digest=None):
    """A short description of a dataset that changes when the data does.

    Args:
        dataset: a `tf.data.Dataset` (or iterable, described by its type).
        arrays: the `(x, y)` arrays the dataset was made from, if any;
            their content is hashed too. Defaults to `None`.
        digest: a description of the content read from the dataset
            itself (`tf_compact.pipeline.data_pass`). Defaults to `None`.

    Returns:
        A string: element shapes and dtypes, number of batches, and a
        content digest.

    Example:

    ```python
    signature(train)  # 'float32(None, 28, 28, 1), int32(None,); 422 batches'
    ```
    """
    if dataset is None:
        return None
    spec = getattr(dataset, "element_spec", None)
    if spec is None:
        return type(dataset).__name__
    parts = [
        f"{s.dtype.name}{tuple(s.shape.as_list())}"
        for s in tf.nest.flatten(spec)
        if hasattr(s, "shape")
    ]
    text = f"{', '.join(parts)}; {_cardinality(dataset)} batches"
    if arrays is not None:
        sha = hashlib.sha1()
        for item in tf.nest.flatten(arrays):
            sha.update(np.ascontiguousarray(item).tobytes())
        text += f"; sha1 {sha.hexdigest()[:12]}"
    elif digest is not None:
        text += f"; {digest}"
    return text


def _cardinality(dataset):
    cardinality = getattr(dataset, "cardinality", None)
    if cardinality is None:
        return None
    value = int(np.asarray(cardinality()))
    return None if value == tf.data.UNKNOWN_CARDINALITY else value


def _empty_message(name, what):
    return (
        f"Invalid value for argument `{name}`. Expected a dataset with at "
        f"least one example. Received: an empty dataset ({what})."
    )
