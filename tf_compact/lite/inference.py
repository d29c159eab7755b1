"""Running a `.tflite` model on arrays: predictions and accuracy."""

import numpy as np

from tf_compact.lite.runtime import make_interpreter


def quantize_input(x, detail):
    """Converts float `x` to the dtype an interpreter input expects.

    Args:
        x: Float array.
        detail: One entry of `interpreter.get_input_details()`.

    Returns:
        `x` quantized with the tensor's scale and zero point when the input
        is integer, else `x` cast to the input dtype.

    Example:

    ```python
    q = tfc.lite.quantize_input(x, interpreter.get_input_details()[0])
    ```
    """
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if dtype.kind not in "iu" or not scale:
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


def _run_batch(interpreter, x):
    (inp,) = interpreter.get_input_details()
    if tuple(inp["shape"]) != x.shape:
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
        interpreter.allocate_tensors()
        (inp,) = interpreter.get_input_details()
    interpreter.set_tensor(inp["index"], quantize_input(x, inp))
    interpreter.invoke()
    return [
        dequantize_output(interpreter.get_tensor(d["index"]), d)
        for d in interpreter.get_output_details()
    ]


def _validate_batch_size(batch_size):
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            "Invalid value for argument `batch_size`. Expected an int >= 1. "
            f"Received: batch_size={batch_size!r}"
        )


def run_interpreter(interpreter, x, batch_size=32):
    """Runs an allocated single-input interpreter over `x` in batches.

    Args:
        interpreter: An interpreter from `make_interpreter`.
        x: Float array of inputs, batch first.
        batch_size: Rows per invoke; the input is resized to it. A model
            with a fixed batch dimension, or one whose delegate cannot be
            prepared at a larger batch, is run one row at a time instead.
            Defaults to `32`.

    Returns:
        A float32 array of outputs (a list of arrays for several outputs).

    Raises:
        ValueError: If the model does not have exactly one input.

    Example:

    ```python
    interpreter, _ = tfc.lite.make_interpreter(tflite)
    y = tfc.lite.run_interpreter(interpreter, x_test)
    ```
    """
    _validate_batch_size(batch_size)
    inputs = interpreter.get_input_details()
    if len(inputs) != 1:
        raise ValueError(
            "Only single-input models can be run on arrays. "
            f"Received: a model with {len(inputs)} inputs"
        )
    signature = inputs[0].get("shape_signature", inputs[0]["shape"])
    if len(signature) and signature[0] != -1:
        batch_size = int(signature[0])
    x = np.asarray(x, np.float32)
    try:
        chunks = [
            _run_batch(interpreter, x[i : i + batch_size])
            for i in range(0, len(x), batch_size)
        ]
    except RuntimeError:
        if batch_size == 1:
            raise
        chunks = [_run_batch(interpreter, x[i : i + 1]) for i in range(len(x))]
    outputs = [np.concatenate(parts) for parts in zip(*chunks)]
    return outputs[0] if len(outputs) == 1 else outputs


def predict(model_content, x, runtime="auto", num_threads=1, batch_size=32):
    """Runs a TFLite model over an array and returns float outputs.

    Integer inputs and outputs (int8/uint8 I/O) are quantized and
    dequantized with the model's own scales, so the result compares directly
    with the Keras model's `predict`.

    Args:
        model_content: The `.tflite` flatbuffer, as bytes.
        x: Float array of inputs, batch first.
        runtime: Interpreter runtime, see `make_interpreter`. Defaults to
            `"auto"`.
        num_threads: Interpreter threads. Defaults to `1`.
        batch_size: Rows per invoke. Defaults to `32`.

    Returns:
        A float32 array of outputs (a list of arrays for several outputs).

    Raises:
        ValueError: If the model has more than one input.
        RuntimeUnavailableError: If no runtime can run the model.

    Example:

    ```python
    probs = tfc.lite.predict(tflite, x_test[:100])
    ```
    """
    interpreter, _ = make_interpreter(
        model_content, runtime=runtime, num_threads=num_threads
    )
    return run_interpreter(interpreter, x, batch_size=batch_size)


def iterate_labeled(dataset):
    """Yields `(x, y)` numpy batches from a dataset or an `(x, y)` tuple.

    Args:
        dataset: A `tf.data.Dataset` of batched `(x, y)` pairs, or a tuple
            `(x, y)` of arrays.

    Yields:
        Pairs of numpy arrays.

    Raises:
        TypeError: If `dataset` is neither.

    Example:

    ```python
    for x, y in tfc.lite.iterate_labeled((x_test, y_test)):
        ...
    ```
    """
    if isinstance(dataset, tuple) and len(dataset) == 2:
        yield np.asarray(dataset[0]), np.asarray(dataset[1])
        return
    if hasattr(dataset, "as_numpy_iterator"):
        for element in dataset.as_numpy_iterator():
            if not isinstance(element, tuple) or len(element) < 2:
                raise TypeError(
                    "Invalid value for argument `dataset`. Expected batches "
                    "of `(x, y)` pairs. Received: an element of type "
                    f"{type(element).__name__}"
                )
            yield element[0], element[1]
        return
    raise TypeError(
        "Invalid type for argument `dataset`. Expected a `tf.data.Dataset` "
        f"of `(x, y)` batches or a tuple `(x, y)`. "
        f"Received: type={type(dataset).__name__}"
    )


def accuracy_of(interpreter, dataset, batch_size=32):
    """Top-1 accuracy of an interpreter over a labeled dataset.

    Args:
        interpreter: An interpreter from `make_interpreter`.
        dataset: A `tf.data.Dataset` of `(x, y)` batches or a tuple
            `(x, y)` of arrays; labels are class indices or one-hot.
        batch_size: Rows per invoke. Defaults to `32`.

    Returns:
        A float in [0, 1].

    Example:

    ```python
    interpreter, _ = tfc.lite.make_interpreter(tflite)
    acc = tfc.lite.accuracy_of(interpreter, (x_test, y_test))
    ```
    """
    correct = total = 0
    for x, y in iterate_labeled(dataset):
        out = run_interpreter(interpreter, x, batch_size=batch_size)
        if isinstance(out, list):
            out = out[0]
        y = np.asarray(y)
        labels = y.argmax(-1) if y.ndim == out.ndim else y.reshape(-1)
        correct += int(np.sum(out.argmax(-1) == labels))
        total += len(labels)
    return correct / max(total, 1)
