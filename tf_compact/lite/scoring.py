"""Which output of a TFLite model an accuracy scores, and its labels.

A model with several outputs scores one of them: the one `output=` names,
else the one dict labels name, else the first in model order. Labels must
fit the scored output: class indices `(n,)` or `(n, 1)`, one-hot (or
class-probability) rows `(n, width)`, or multi-hot 0/1 rows; a one-unit
output takes binary labels in [0, 1]; an output with one prediction per
pixel or step takes such labels per position (`(n, h, w)` for `(n, h, w,
width)`). Labels that do not fit (regression targets among them) are
refused with the output's name and shape, the labels' shape, and the
model's outputs to choose from with `output=`.
"""

import numpy as np

from tf_compact.internal import array_data
from tf_compact.internal import label_values
from tf_compact.internal.user_warning import warn
from tf_compact.lite.interpreter_io import model_io


def output_name(interpreter, output=None):
    """The name of the output to score, from an index, a name or `None`.

    Args:
        interpreter: An interpreter from `make_interpreter`.
        output: Index into the outputs in model order (Keras order for a
            converted Keras model), an output name as `model_io` gives it
            (`"output_1"`, or the key of a dict output), or `None` for the
            first output. Defaults to `None`.

    Returns:
        The output's name.

    Raises:
        ValueError: If `output` names no output of the model.

    Example:

    ```python
    name = tfc.lite.scoring.output_name(interpreter, 1)
    ```
    """
    names = [name for name, _ in model_io(interpreter)[1]]
    if output is None:
        return names[0]
    if isinstance(output, str) and output in names:
        return output
    if (
        isinstance(output, int)
        and not isinstance(output, bool)
        and -len(names) <= output < len(names)
    ):
        return names[output]
    raise ValueError(
        "Invalid value for argument `output`. Expected an index below "
        f"{len(names)} or one of the output names {names}. "
        f"Received: output={output!r}"
    )


def output_shapes(interpreter):
    """`{name: shape}` of the outputs in model order, batch included."""
    return {
        name: tuple(int(d) for d in detail["shape"])
        for name, detail in model_io(interpreter)[1]
    }


def _shape(value):
    """Shape of an array or of a `tf.TensorSpec`; `None` if unknown."""
    shape = getattr(value, "shape", None)
    if shape is None:
        try:
            return np.shape(value)
        except ValueError:
            return None
    if getattr(shape, "rank", 0) is None:
        return None
    return tuple(shape.as_list() if hasattr(shape, "as_list") else shape)


def _given_labels(dataset):
    """The labels of a tuple `(x, y)`, or the `TensorSpec` (dict) of a
    dataset's labels, read without running it; `None` when unknown."""
    if isinstance(dataset, tuple) and len(dataset) in (2, 3):
        return dataset[1]
    spec = getattr(dataset, "element_spec", None)
    if isinstance(spec, tuple) and len(spec) >= 2:
        return spec[1]
    return None


def scored_output(interpreter, dataset, output=None):
    """The output an accuracy over `dataset` scores, checked up front.

    Args:
        interpreter: An interpreter from `make_interpreter`.
        dataset: A `tf.data.Dataset` of `(x, y)` batches or a tuple
            `(x, y)`; `y` is an array, or a dict from output name to array.
        output: See `output_name`; `None` takes the output that dict labels
            name, else the first output. Defaults to `None`.

    Returns:
        The scored output's name.

    Warns when the model has several outputs and neither `output` nor
    dict labels chose one.

    Raises:
        ValueError: If the dataset is not batched, `output` names no
            output, dict labels name no output (or several, with no
            `output=`), or the labels do not fit the scored output.

    Example:

    ```python
    name = scored_output(interpreter, (x_test, y_test), output="cls")
    ```
    """
    check_batched(interpreter, dataset)
    shapes = output_shapes(interpreter)
    labels = _given_labels(dataset)
    if isinstance(labels, dict):
        name = _named_by_labels(interpreter, shapes, labels, output)
        labels = labels[name]
    else:
        name = output_name(interpreter, output)
        if output is None and len(shapes) > 1:
            warn(
                f"tfc.lite: the model has {len(shapes)} outputs "
                f"({', '.join(shapes)}) and the labels name none, so the "
                f"first, {name!r}, is scored; pass `output=` (on the command "
                "line --score_output) to score another."
            )
    values = None
    if isinstance(dataset, tuple) and labels is not None:
        values = np.asarray(labels)
    check_labels(name, shapes, _shape(labels), values)
    return name


def check_batched(interpreter, dataset):
    """Refuses a `tf.data.Dataset` whose inputs lack the batch axis.

    The message is the one `tfc.compress` gives for an unbatched dataset.
    Inputs are read from the dataset's `element_spec` without running it:
    one tensor for a one-input model, else a list/tuple in model order or
    a dict keyed by input name.

    Raises:
        ValueError: If an input of the dataset has one axis less than the
            model's input; the message says to call `.batch(batch_size)`.

    Example:

    ```python
    check_batched(interpreter, tf.data.Dataset.from_tensor_slices((x, y)))
    # ValueError: ... call `.batch(batch_size)` on the dataset.
    ```
    """
    spec = getattr(dataset, "element_spec", None)
    if not isinstance(spec, (tuple, list)) or not spec:
        return
    inputs = model_io(interpreter)[0]
    ranks = {name: len(detail["shape"]) for name, detail in inputs}
    array_data.check_batched("dataset", spec[0], ranks)


def _named_by_labels(interpreter, shapes, labels, output):
    if output is not None:
        name = output_name(interpreter, output)
        if name in labels:
            return name
        raise ValueError(
            "Invalid value for argument `dataset`. Dict labels are read by "
            f"the name of the scored output; expected a key {name!r} (the "
            f"output that `output=` picks). Received: output={output!r}, "
            f"labels with keys {sorted(labels)}"
        )
    named = [name for name in shapes if name in labels]
    if len(named) == 1:
        return named[0]
    several = ", and `output=` to pick one of several" if named else ""
    raise ValueError(
        "Invalid value for argument `dataset`. Dict labels are read by "
        "the name of the scored output; expected a key that names one "
        f"of the model's outputs {list(shapes)}{several}. Received: labels "
        f"with keys {sorted(labels)}{_list_outputs_hint(shapes)}"
    )


def _list_outputs_hint(shapes):
    """How to key labels for a Keras model with a list of outputs, whose
    layer names the TFLite file does not keep."""
    names = list(shapes)
    if len(names) < 2 or names != [f"output_{i}" for i in range(len(names))]:
        return ""
    return (
        ". The outputs of a Keras model with a list of outputs are named "
        "`output_0`, `output_1`, ... in the order of `model.outputs` (its "
        "layer names are not kept): key the labels that way, e.g. "
        "{'output_1': y}, or pass `output=1` with the labels array"
    )


def labels_of(y, name):
    """The labels of output `name`: `y` itself, or `y[name]` for a dict."""
    if isinstance(y, dict):
        if name not in y:
            raise ValueError(
                "Invalid value for argument `dataset`. Dict labels are read "
                f"by the name of the scored output {name!r}. Received: labels "
                f"with keys {sorted(y)}"
            )
        y = y[name]
    return np.asarray(y)


def check_labels(name, shapes, labels_shape, values=None):
    """Refuses labels that do not fit the scored output `name`.

    Args:
        name: The scored output.
        shapes: `output_shapes` of the model.
        labels_shape: The labels' shape (batch first), or `None` if
            unknown.
        values: The labels, to check their values, or `None`. Defaults to
            `None`.

    Returns:
        The labels' format (`tf_compact.internal.label_values`:
        `"binary"`, `"indices"`, `"rows"` or `"multi_hot"`), or `None` when
        only the shape was checked.

    Raises:
        ValueError: If the labels' shape does not fit the output (one label
            per example, or per pixel or step of a per-position output),
            class indices are not whole numbers inside its width, rows are
            neither one-hot (or probabilities) nor multi-hot 0/1 (e.g.
            regression targets), or labels of a one-unit output lie outside
            [0, 1]. The message names the output, its width, the labels'
            shape and, for several outputs, the ones to pick from with
            `output=`.
    """
    shape = shapes[name]
    if labels_shape is None or len(shape) < 2:
        return None
    width, rank = shape[-1], len(shape)
    per = f" (one prediction per position, shape {shape})" if rank > 2 else ""
    try:
        if values is not None:
            return label_values.label_format(values, width, rank)
        _check_shape(labels_shape, shape)
    except label_values.LabelValueError as error:
        raise ValueError(
            "Invalid value for argument `dataset`. The labels do not fit "
            f"the scored output {name!r} of width {width}{per}: "
            + _with_hint(str(error), name, shapes, labels_shape)
        ) from None
    return None


def _check_shape(labels_shape, shape):
    """Raises `LabelValueError` for a labels shape that fits no format."""
    rank, width = len(shape), shape[-1]
    fits = len(labels_shape) == rank - 1 or (
        len(labels_shape) == rank and labels_shape[-1] in (1, width, None)
    )
    if not fits:
        raise label_values.LabelValueError(
            f"expected {label_values.expected_labels(width, rank)}. "
            f"Received: labels of shape {tuple(labels_shape)}"
        )


def _with_hint(message, name, shapes, labels_shape):
    expected, _, received = message.partition(". Received: ")
    hint = _choice_hint(name, shapes, labels_shape)
    return f"{expected}.{hint} Received: {received}"


def _choice_hint(name, shapes, labels_shape):
    if len(shapes) == 1:
        return ""
    widths = {n: s[-1] if len(s) > 1 else 1 for n, s in shapes.items()}
    hint = (
        f" The model has outputs {widths} (name: width); `output=` picks "
        "the scored one (the first when not given)"
    )
    fitting = [
        n
        for n, s in shapes.items()
        if n != name and len(labels_shape) == 2 and s[-1] == labels_shape[-1]
    ]
    if fitting:
        hint += f", e.g. output={fitting[0]!r}"
    return hint + "."


#: `tf.data.INFINITE_CARDINALITY` (TensorFlow is not imported here).
_INFINITE = -1


def check_scorable(dataset):
    """Refuses data `labeled_batches` cannot read once through: a type it
    does not read, or a dataset that repeats forever.

    Raises:
        TypeError: For anything but a `tf.data.Dataset` or a tuple of two
            or three arrays (a generator, a `keras.utils.PyDataset`, a
            list of batches).
        ValueError: For a dataset of infinite cardinality.
    """
    if isinstance(dataset, tuple) and len(dataset) in (2, 3):
        return
    if not hasattr(dataset, "as_numpy_iterator"):
        raise TypeError(
            "Invalid type for argument `dataset`. Expected a `tf.data."
            "Dataset` of `(x, y)` or `(x, y, sample_weight)` batches, or "
            "such a tuple of arrays (a generator or a `keras.utils."
            "PyDataset` can be wrapped with `tf.data.Dataset."
            "from_generator`). Received: type="
            f"{type(dataset).__name__}"
        )
    cardinality = getattr(dataset, "cardinality", None)
    if cardinality is not None and int(cardinality()) == _INFINITE:
        raise ValueError(
            "Invalid value for argument `dataset`. Expected a finite "
            "dataset (it is read once, to the end). Received: a dataset "
            "that repeats forever; remove its `.repeat()` or add "
            "`.take(steps)`."
        )
