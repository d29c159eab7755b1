"""Checking that bytes hold a well-formed TFLite flatbuffer.

Some runtimes (the stand-alone `tflite_runtime` among them) build an
interpreter from a flatbuffer without verifying it, and a truncated or
corrupt file then crashes the process. `check_model` reads the whole model
in Python first, with bounds checks on every offset it follows, and checks
that the indices it holds (tensors, buffers, operator codes) point at
something. `load_model_content` reads a model from bytes or a file and
refuses one that fails these checks.
"""

import os
import struct

_IDENTIFIER = b"TFL3"
_HEADER = 8


def model_schema():
    """The generated Python reader of the TFLite schema."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        from tensorflow.lite.python import schema_py_generated
    return schema_py_generated


_schema = model_schema


def _invalid(content, what):
    return ValueError(
        "Invalid value for argument `model_content`. Expected a well-formed "
        f"TFLite flatbuffer. Received: {len(content)} bytes in which {what}"
    )


def _check_table(content, pos, name):
    """Checks that the table at `pos` and its vtable lie inside `content`."""
    size = len(content)
    if pos % 4 or not _HEADER <= pos <= size - 4:
        raise _invalid(
            content,
            f"the {name} table offset {pos} is misaligned or outside the file",
        )
    (back,) = struct.unpack_from("<i", content, pos)
    vtable = pos - back
    if vtable % 2 or not 0 <= vtable <= size - 4:
        raise _invalid(
            content,
            f"the {name} table at {pos} has its vtable outside the file",
        )
    vt_size, table_size = struct.unpack_from("<HH", content, vtable)
    if vt_size < 4 or vt_size % 2 or vtable + vt_size > size:
        raise _invalid(
            content,
            f"the {name} table at {pos} has a broken vtable ({vt_size})",
        )
    if pos + table_size > size:
        raise _invalid(
            content,
            f"the {name} table at {pos} runs past the end of the file",
        )


def _check_header(content):
    head = bytes(content[:_HEADER])
    if len(head) < _HEADER or head[4:8] != _IDENTIFIER:
        raise ValueError(
            "Invalid value for argument `model_content`. Expected a TFLite "
            "flatbuffer (file identifier 'TFL3' at bytes 4-8). "
            f"Received: {len(content)} bytes starting {head!r}"
        )
    (root,) = struct.unpack_from("<I", content, 0)
    _check_table(content, root, "root")
    return root


def _in_range(content, indices, count, what):
    for i in indices if indices is not None else ():
        if not -1 <= int(i) < count:
            raise _invalid(
                content,
                f"{what} refer to tensor {int(i)} (only {count} exist)",
            )


def _check_subgraph(content, s, subgraph, num_buffers, num_codes):
    tensors = subgraph.tensors or []
    where = f"subgraph {s}"
    for t, tensor in enumerate(tensors):
        if not 0 <= tensor.buffer < max(num_buffers, 1):
            raise _invalid(
                content,
                f"tensor {t} of {where} refers to buffer {tensor.buffer} "
                f"(only {num_buffers} exist)",
            )
    count = len(tensors)
    _in_range(content, subgraph.inputs, count, f"the inputs of {where}")
    _in_range(content, subgraph.outputs, count, f"the outputs of {where}")
    for o, op in enumerate(subgraph.operators or []):
        what = f"operator {o} of {where}"
        if not 0 <= op.opcodeIndex < num_codes:
            raise _invalid(
                content,
                f"{what} refers to operator code {op.opcodeIndex} "
                f"(only {num_codes} exist)",
            )
        _in_range(content, op.inputs, count, f"the inputs of {what}")
        _in_range(content, op.outputs, count, f"the outputs of {what}")


def _check_buffers(content, buffers):
    for b, buffer in enumerate(buffers):
        if buffer.offset > 1 and buffer.offset + buffer.size > len(content):
            raise _invalid(
                content,
                f"buffer {b} claims bytes {buffer.offset}.."
                f"{buffer.offset + buffer.size} outside the file",
            )


def check_model(model_content):
    """Reads a TFLite model, raising `ValueError` unless it is well formed.

    Checks the `TFL3` file identifier, the root table and its vtable, then
    reads every table of the model with bounds checks, and checks that the
    tensor, buffer and operator-code indices it holds are in range.

    Args:
        model_content: The `.tflite` flatbuffer, as bytes.

    Returns:
        The model as the schema's object API (`ModelT`).

    Raises:
        ValueError: Naming what is wrong, e.g. a missing identifier, an
            offset outside the file (a truncated file), or an operator
            reading a tensor that does not exist.

    Example:

    ```python
    check_model(open("model.tflite", "rb").read())
    ```
    """
    content = bytes(model_content)
    root = _check_header(content)
    schema = model_schema()
    try:
        model = schema.ModelT.InitFromBuf(content, root)
    except Exception as e:  # any failed read means a broken buffer
        raise _invalid(
            content,
            f"the tables cannot be read ({type(e).__name__}: {e})",
        ) from None
    subgraphs = model.subgraphs or []
    if not subgraphs:
        raise _invalid(content, "the model holds no subgraph")
    buffers = model.buffers or []
    _check_buffers(content, buffers)
    num_codes = len(model.operatorCodes or [])
    for s, subgraph in enumerate(subgraphs):
        _check_subgraph(content, s, subgraph, len(buffers), num_codes)
    return model


def validate_flatbuffer(model_content):
    """Raises if `model_content` is not a well-formed TFLite flatbuffer.

    Checks the `TFL3` file identifier, then reads the whole model with
    bounds checks (see `check_model`), so that a truncated or corrupt file
    is refused before any runtime sees it.

    Args:
        model_content: Bytes to check.

    Raises:
        TypeError: If `model_content` is not bytes-like.
        ValueError: If it lacks the `TFL3` file identifier or cannot be
            read as a TFLite model; the message says what is broken.

    Example:

    ```python
    tfc.lite.flatbuffer.validate_flatbuffer(open("model.tflite", "rb").read())
    ```
    """
    if not isinstance(model_content, (bytes, bytearray, memoryview)):
        raise TypeError(
            "Invalid type for argument `model_content`. Expected bytes of a "
            f"TFLite model. Received: type={type(model_content).__name__}"
        )
    check_model(model_content)


def load_model_content(model):
    """Returns TFLite bytes from bytes or from a path to a `.tflite` file.

    Args:
        model: Bytes-like flatbuffer, or a `str`/`os.PathLike` file path.

    Returns:
        The flatbuffer as `bytes` (a `bytes` subclass is returned as is).

    Raises:
        TypeError: If `model` is neither bytes nor a path.
        ValueError: If the content is not a TFLite flatbuffer.
        FileNotFoundError: If the path does not exist.

    Example:

    ```python
    content = tfc.lite.load_model_content("model.tflite")
    ```
    """
    path = None
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        with open(model, "rb") as f:
            model = f.read()
    elif isinstance(model, (bytearray, memoryview)):
        model = bytes(model)
    try:
        validate_flatbuffer(model)
    except ValueError as e:
        if path is None:
            raise
        raise ValueError(
            f"File {path!r} is not a usable TFLite model. {e}"
        ) from None
    return model


def store_metadata(model, name, data):
    """Stores `data` (bytes) as the metadata entry `name` of `model` (a
    `ModelT`, the schema's object API), replacing an entry of that name.

    Example:

    ```python
    store_metadata(flat, "my_entry", b"[1, 2]")
    ```
    """
    import numpy

    schema_buffer = type(model.buffers[0])()
    schema_buffer.data = numpy.frombuffer(data, dtype=numpy.uint8)
    entries = list(model.metadata or [])
    for entry in entries:
        text = entry.name
        if (text.decode("utf-8") if isinstance(text, bytes) else text) == name:
            model.buffers[entry.buffer] = schema_buffer
            return
    model.buffers.append(schema_buffer)
    entry = model_schema().MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata = entries + [entry]
