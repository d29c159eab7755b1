"""The Keras input order of a converted model, recorded in its file.

TFLite keeps a model's inputs in an order of its own, and its serving
signature names them (by their `keras.Input` names) in no order at all. A
list of arrays given for several inputs is in the Keras model's input
order, so `tfc.lite.convert` records that order in the file it writes: a
`Model.metadata` entry named `INPUT_ORDER` whose buffer holds the
signature's input names in Keras order, as a JSON list (a model with one
input gets none). Interpreters ignore the entry. `make_interpreter`
reads it back (`remember`), `tfc.lite.predict`, `benchmark` and
`accuracy_of` then take a list in that order (`recorded_order`), and
`tfc.lite.set_signature` renames the recorded names with the signature's.
"""

import contextlib
import json
import weakref

import numpy as np

from tf_compact.lite.flatbuffer import model_schema
from tf_compact.lite.flatbuffer import store_metadata

#: Name of the metadata entry that holds the order.
INPUT_ORDER = "tf_compact.input_order"

# Recorded orders of the interpreters `make_interpreter` created.
_ORDERS = weakref.WeakKeyDictionary()


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _parse(data):
    """The names a buffer holds, or `None` when it holds no name list."""
    try:
        names = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(names, list) or not all(
        isinstance(n, str) for n in names
    ):
        return None
    return names if len(set(names)) == len(names) else None


def read_input_order(content):
    """The input names recorded in a `.tflite` model, in Keras order.

    Args:
        content: The `.tflite` model as bytes (metadata files appended
            after the flatbuffer are allowed).

    Returns:
        A list of signature input names, or `None` when the model records
        no order (a file not written by `tfc.lite.convert`, or a model
        with one input).

    Example:

    ```python
    read_input_order(tfc.lite.convert(two_input_model))  # ["image", "meta"]
    ```
    """
    content = bytes(content)
    try:
        model = model_schema().Model.GetRootAs(content, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if _text(entry.Name()) != INPUT_ORDER:
                continue
            data = model.Buffers(entry.Buffer()).DataAsNumpy()
            return None if isinstance(data, int) else _parse(data)
    except Exception:  # a file of another schema records nothing we read
        return None
    return None


def _entry(model):
    for entry in model.metadata or []:
        if _text(entry.name) == INPUT_ORDER:
            return entry
    return None


def store_input_order(model, names):
    """Records `names` as the input order of `model` (a `ModelT`, the
    schema's object API), replacing an order already recorded."""
    data = json.dumps(list(names)).encode("utf-8")
    store_metadata(model, INPUT_ORDER, data)


def rename_input_order(model, mapping):
    """Renames the recorded input names of `model` (a `ModelT`) with an
    old-to-new `mapping`, as `set_signature` renames the signature."""
    entry = _entry(model)
    if entry is None or not mapping:
        return
    data = model.buffers[entry.buffer].data
    names = None if data is None else _parse(np.asarray(data, np.uint8))
    if names is not None:
        store_input_order(model, [mapping.get(n, n) for n in names])


def remember(interpreter, content):
    """Keeps the input order recorded in `content` for `interpreter`."""
    names = read_input_order(content)
    if names is None:
        return
    # An interpreter that takes no weak reference keeps no order.
    with contextlib.suppress(TypeError):
        _ORDERS[interpreter] = names


def recorded_order(interpreter):
    """The Keras input order recorded in the file `interpreter` runs (as
    signature input names), or `None` when unknown.

    Example:

    ```python
    interpreter, _ = tfc.lite.make_interpreter(tflite)
    recorded_order(interpreter)  # ["image", "meta"]
    ```
    """
    try:
        return _ORDERS.get(interpreter)
    except TypeError:
        return None


def fits(expected, shape):
    """Whether an array of `shape` fits an input of shape `expected` (any
    batch size; a dynamic dimension, `None`, matches any size)."""
    return len(shape) == len(expected) and all(
        e is None or e == d for e, d in zip(expected[1:], shape[1:])
    )


def by_shape(names, expected, arrays, argument="x"):
    """The arrays of a list, matched by shape to the inputs of a file that
    records no input order.

    Args:
        names: The input names, in the order to return the arrays in.
        expected: The inputs' shapes, one per name (`None` where dynamic).
        arrays: One array per input, in an order to find.
        argument: Name of the caller's argument, for messages. Defaults to
            `"x"`.

    Returns:
        The arrays in the order of `names`.

    Raises:
        ValueError: Unless each array fits exactly one input and each
            input exactly one array: rather than guess, the message asks
            for a dict keyed by input name.

    Example:

    ```python
    by_shape(["image", "meta"], [(None, 8, 8, 1), (None, 4)], [meta, image])
    # [image, meta]
    ```
    """
    shapes = [tuple(np.shape(a)) for a in arrays]
    found = [
        [i for i, e in enumerate(expected) if fits(e, shape)]
        for shape in shapes
    ]
    if sorted(f[0] for f in found if len(f) == 1) != list(range(len(names))):
        wanted = {n: (None,) + tuple(e[1:]) for n, e in zip(names, expected)}
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected a dict "
            f"keyed by input name, one of {sorted(names)}: the file does "
            "not record the order of the Keras model's inputs (files "
            "written by `tfc.lite.convert` do), and the inputs' shapes "
            f"{wanted} do not tell which array of a list goes where. "
            f"Received: a list of arrays of shapes {shapes}"
        )
    ordered = [None] * len(names)
    for a, (i, *_) in zip(arrays, found):
        ordered[i] = a
    return ordered
