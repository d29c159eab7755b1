"""Feeding a TFLite interpreter: its inputs and outputs in model order,
float arrays quantized in and dequantized out, inputs checked against the
signature and run in batches."""

import numpy as np

from tf_compact.lite.input_order import by_shape
from tf_compact.lite.input_order import fits
from tf_compact.lite.input_order import recorded_order
from tf_compact.lite.integer_inputs import as_integer_input
from tf_compact.lite.scopes import natural_key


def quantize_input(x, detail):
    """Converts float `x` to the dtype an interpreter input expects.

    Args:
        x: Float array.
        detail: One entry of `interpreter.get_input_details()`.

    Returns:
        `x` quantized with the tensor's scale and zero point when the input
        is integer and quantized, else `x` cast to the input dtype.

    Raises:
        ValueError: If the input is integer without quantization (the model
            takes raw integer values) and `x` holds floats with fractions.

    Example:

    ```python
    q = tfc.lite.quantize_input(x, interpreter.get_input_details()[0])
    ```
    """
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if dtype.kind in "iu" and not scale:
        return as_integer_input(x, dtype, detail.get("name"))
    if dtype.kind not in "iu":
        return np.asarray(x, dtype=dtype)
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, np.float32) / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(y, detail):
    """Converts an interpreter output to float32.

    Args:
        y: Array read from the interpreter.
        detail: One entry of `interpreter.get_output_details()`.

    Returns:
        `y` as float32, dequantized when the output is integer.

    Example:

    ```python
    y = tfc.lite.dequantize_output(raw, interpreter.get_output_details()[0])
    ```
    """
    scale, zero_point = detail["quantization"]
    y = np.asarray(y)
    if y.dtype.kind in "iu" and scale:
        return (y.astype(np.float32) - zero_point) * np.float32(scale)
    return y.astype(np.float32)


def _signature_details(interpreter):
    """Name-to-detail dicts of the serving signature, or `None`."""
    try:
        keys = list(interpreter.get_signature_list())
    except (AttributeError, RuntimeError, ValueError):
        return None
    if not keys:
        return None
    key = "serving_default" if "serving_default" in keys else sorted(keys)[0]
    runner = interpreter.get_signature_runner(key)
    return runner.get_input_details(), runner.get_output_details()


def _ordered(named, details, order=None):
    """`(name, detail)` pairs in model order, details read by tensor index:
    in `order` when it names every input, else sorted by name."""
    by_index = {int(d["index"]): d for d in details}
    indices = {int(d["index"]) for d in named.values()}
    if len(named) != len(details) or indices != set(by_index):
        return None
    names = sorted(named, key=natural_key)
    if order is not None and sorted(order) == sorted(named):
        names = list(order)
    return [(n, by_index[int(named[n]["index"])]) for n in names]


def model_io(interpreter):
    """Inputs and outputs of an interpreter, named and in model order.

    TFLite may store a model's inputs and outputs in an order of its own
    (outputs of a two-head Keras model can come back swapped). The serving
    signature names them as the Keras model did: inputs by their
    `keras.Input` names, list outputs as `output_0`, `output_1`, ... in Keras
    order, dict outputs by their keys. Outputs are sorted by name, numbers
    compared as numbers, so `output_<i>` is Keras output `i`. Inputs are in
    the Keras model's order where the file records it (`tfc.lite.convert`
    does, see `tf_compact.lite.input_order`), else sorted by name too. A
    model without a signature keeps the interpreter's own order and tensor
    names.

    Args:
        interpreter: An allocated interpreter from any runtime.

    Returns:
        A tuple `(inputs, outputs)` of lists of `(name, detail)` pairs, each
        `detail` an entry of `get_input_details()`/`get_output_details()`.

    Example:

    ```python
    interpreter, _ = tfc.lite.make_interpreter(tflite)
    inputs, outputs = tfc.lite.interpreter_io.model_io(interpreter)
    print([name for name, _ in outputs])
    ```
    """
    ins = interpreter.get_input_details()
    outs = interpreter.get_output_details()
    named = _signature_details(interpreter)
    if named is not None:
        inputs = _ordered(named[0], ins, recorded_order(interpreter))
        outputs = _ordered(named[1], outs)
        if inputs is not None and outputs is not None:
            return inputs, outputs
    return [(d["name"], d) for d in ins], [(d["name"], d) for d in outs]


def _expected_shape(detail):
    signature = detail.get("shape_signature")
    if signature is None or not len(signature):
        signature = detail["shape"]
    return tuple(None if int(d) < 0 else int(d) for d in signature)


def _shape_text(shape):
    return str(tuple(shape))


def _arrange(inputs, x, argument, order_known):
    """One array for each of `inputs`, from an array, a list or a dict; a
    list in the Keras input order when `order_known`, else by shape."""
    names = [name for name, _ in inputs]
    if isinstance(x, dict):
        if set(x) != set(names):
            raise ValueError(
                f"Invalid value for argument `{argument}`. Expected a dict "
                f"with the model's input names {names}. Received: keys "
                f"{sorted(x)}"
            )
        arrays = [x[name] for name in names]
    elif isinstance(x, (list, tuple)) and (len(inputs) > 1 or len(x) == 1):
        # One array per input; a single input's list of rows is stacked.
        arrays = list(x)
        if len(inputs) > 1 and len(arrays) == len(inputs) and not order_known:
            expected = [_expected_shape(d) for _, d in inputs]
            arrays = by_shape(names, expected, arrays, argument)
    else:
        arrays = [x]
    if len(arrays) != len(inputs):
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected "
            f"{len(inputs)} arrays, one for each model input {names}. "
            f"Received: {len(arrays)}"
        )
    return [_as_fed(a) for a in arrays]


def _as_fed(a):
    """Float data as float32; integer and bool data kept as they are, for
    integer model inputs (a `uint8` image input is fed its own values)."""
    a = np.asarray(a)
    return a if a.dtype.kind in "iub" else a.astype(np.float32)


def input_arrays(interpreter, x, argument="x"):
    """The model inputs and `x` as one checked array per input.

    A list (or tuple) of arrays for several inputs is in the Keras model's
    input order, which `tfc.lite.convert` records in the file; for a file
    without that record each array goes to the one input its shape fits.

    Args:
        interpreter: An interpreter from `make_interpreter`.
        x: Inputs, batch first, as `tfc.lite.run_interpreter` takes them.
        argument: Name of the caller's argument, for messages. Defaults to
            `"x"`.

    Returns:
        `(inputs, arrays)`: `inputs` as `model_io` gives them, `arrays` one
        array per input in the same order.

    Raises:
        ValueError: As `check_inputs`; or when `x` is a list for several
            inputs of a file that records no input order, and their shapes
            do not tell the arrays apart (a dict keyed by input name is
            asked for).

    Example:

    ```python
    inputs, arrays = input_arrays(interpreter, x_test[:1])
    ```
    """
    inputs, _ = model_io(interpreter)
    known = recorded_order(interpreter) == [name for name, _ in inputs]
    arrays = _arrange(inputs, x, argument, known)
    check_inputs(inputs, arrays, argument)
    return inputs, arrays


def check_inputs(inputs, arrays, argument="x"):
    """Raises `ValueError` unless the arrays fit the model inputs.

    Every dimension but the batch must match the input's shape (a dynamic
    dimension matches any size), all arrays must hold the same number of
    rows, and at least one.

    Args:
        inputs: `(name, detail)` pairs from `model_io`.
        arrays: One array per input, in the same order.
        argument: Name of the caller's argument, for messages. Defaults to
            `"x"`.

    Raises:
        ValueError: Naming the input, its expected shape and the shape
            received.

    Example:

    ```python
    inputs, _ = model_io(interpreter)
    check_inputs(inputs, [x_test], argument="dataset")
    ```
    """
    for (name, detail), a in zip(inputs, arrays):
        expected = _expected_shape(detail)
        if not fits(expected, a.shape):
            raise ValueError(
                f"Invalid value for argument `{argument}`. Expected input "
                f"{name!r} of shape {_shape_text((None,) + expected[1:])} "
                f"(any batch size). Received: shape={a.shape}"
            )
        if len(a) == 0:
            raise ValueError(
                f"Invalid value for argument `{argument}`. Expected at least "
                f"one sample for input {name!r} of shape "
                f"{_shape_text((None,) + expected[1:])}. Received: "
                f"shape={a.shape}"
            )
    rows = {len(a) for a in arrays}
    if len(rows) > 1:
        shapes = [a.shape for a in arrays]
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected the same "
            f"number of rows for every input. Received: shapes={shapes}"
        )


def _run_batch(interpreter, inputs, outputs, arrays):
    # The interpreter's shapes now, not those read when the run began: an
    # earlier batch (or call) may have resized it since.
    current = {
        d["index"]: tuple(d["shape"]) for d in interpreter.get_input_details()
    }
    resized = False
    for (_, detail), a in zip(inputs, arrays):
        if current[detail["index"]] != a.shape:
            interpreter.resize_tensor_input(detail["index"], list(a.shape))
            resized = True
    if resized:
        interpreter.allocate_tensors()
    for (_, detail), a in zip(inputs, arrays):
        interpreter.set_tensor(detail["index"], quantize_input(a, detail))
    interpreter.invoke()
    return [
        dequantize_output(interpreter.get_tensor(d["index"]), d)
        for _, d in outputs
    ]


def _validate_batch_size(batch_size):
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            "Invalid value for argument `batch_size`. Expected an int >= 1. "
            f"Received: batch_size={batch_size!r}"
        )


def run_outputs(interpreter, x, batch_size=32, argument="x"):
    """Runs an allocated interpreter over inputs; outputs by name.

    Args:
        interpreter: An interpreter from `make_interpreter`.
        x: Float inputs, batch first, as `tfc.lite.run_interpreter` takes
            them.
        batch_size: Rows per invoke, as in `tfc.lite.run_interpreter`.
            Defaults to `32`.
        argument: Name of the caller's argument, for messages. Defaults to
            `"x"`.

    Returns:
        A dict from output name to float32 array, in model order (see
        `model_io`).

    Raises:
        ValueError: If the inputs do not match the model's inputs (count,
            names, or any dimension but the batch), hold no sample, or
            are a list that cannot be matched to the inputs (see
            `input_arrays`).

    Example:

    ```python
    interpreter, _ = tfc.lite.make_interpreter(tflite)
    outputs = tfc.lite.interpreter_io.run_outputs(interpreter, x_test)
    ```
    """
    _validate_batch_size(batch_size)
    inputs, arrays = input_arrays(interpreter, x, argument)
    outputs = model_io(interpreter)[1]
    signature = _expected_shape(inputs[0][1])
    if len(signature) and signature[0] is not None:
        batch_size = signature[0]

    def run(step):
        return [
            _run_batch(
                interpreter, inputs, outputs, [a[i : i + step] for a in arrays]
            )
            for i in range(0, len(arrays[0]), step)
        ]

    try:
        chunks = run(batch_size)
    except RuntimeError:
        if batch_size == 1:
            raise
        chunks = run(1)
    return {
        name: np.concatenate(parts)
        for (name, _), parts in zip(outputs, zip(*chunks))
    }
