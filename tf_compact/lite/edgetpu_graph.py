"""The parts of a `.tflite` model that the Edge TPU rules look at.

`read_graph` reads the flatbuffer once with the TFLite schema and gives,
per operator in execution order: its builtin name and version, its options
(fused activation, strides, dilations, axes...), its input and output
tensors (shape, `shape_signature`, dtype, whether constant, the constant's
values) and the Keras layer it came from (`tf_compact.lite.ops.read_ops`).
"""

import dataclasses

import numpy as np

from tf_compact.lite.flatbuffer import load_model_content
from tf_compact.lite.flatbuffer import model_schema
from tf_compact.lite.ops import read_ops

_DTYPES = {
    "FLOAT32": np.float32,
    "FLOAT16": np.float16,
    "FLOAT64": np.float64,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "UINT16": np.uint16,
    "INT32": np.int32,
    "UINT32": np.uint32,
    "INT64": np.int64,
    "UINT64": np.uint64,
    "BOOL": np.bool_,
}
# The op edgetpu_compiler puts in place of the ops it maps.
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"
# Constants larger than this are not decoded (weights are not inspected).
_MAX_DECODED = 4096


@dataclasses.dataclass
class TensorView:
    """One tensor an operator reads or writes.

    Args:
        index: Tensor index in the subgraph.
        name: Tensor name.
        shape: Static shape, a tuple of ints.
        signature: `shape_signature` (with `-1` for a dynamic dimension),
            or `None` when the model stores none (all static).
        dtype: Type name, e.g. `"int8"`, `"float32"`.
        constant: Whether the tensor holds data in the file (weights,
            biases, axes), as opposed to an activation.
        value: The constant's values as a numpy array when it is small,
            else `None`.
    """

    index: int
    name: str
    shape: tuple
    signature: tuple
    dtype: str
    constant: bool
    value: object = None

    @property
    def dynamic(self):
        """Whether a dimension is unknown until run time."""
        return self.signature is not None and any(d < 0 for d in self.signature)


@dataclasses.dataclass
class OpView:
    """One operator with what the Edge TPU rules need.

    Args:
        index: Position in the execution plan.
        op: Builtin name, e.g. `"CONV_2D"` (custom ops: their custom code).
        version: Operator version as stored in the file.
        options: The builtin options as a dict of snake_case fields (e.g.
            `fused_activation_function`, `stride_w`), empty if none.
        inputs: `TensorView`s of the inputs (optional inputs left out).
        outputs: `TensorView`s of the outputs.
        layer: Keras layer name, when known.
        subgraph: Subgraph index; `0` is the main graph.
    """

    index: int
    op: str
    version: int
    options: dict
    inputs: list
    outputs: list
    layer: str = None
    subgraph: int = 0

    @property
    def activations(self):
        """Inputs and outputs that are not constants."""
        return [t for t in self.inputs + self.outputs if not t.constant]


@dataclasses.dataclass
class GraphView:
    """A TFLite model as the Edge TPU rules read it.

    Args:
        ops: `OpView`s of the main subgraph, in execution order, then those
            of other subgraphs (control flow bodies).
        inputs: `TensorView`s of the model inputs.
        outputs: `TensorView`s of the model outputs.
        num_subgraphs: How many subgraphs the file holds.
    """

    ops: list
    inputs: list
    outputs: list
    num_subgraphs: int


def _names(enum_class):
    return {
        value: key
        for key, value in vars(enum_class).items()
        if not key.startswith("_") and isinstance(value, int)
    }


def _snake(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _options(operator, activation_names):
    opts = operator.builtinOptions
    if opts is None:
        return {}
    fields = {}
    for key, value in vars(opts).items():
        if isinstance(value, np.ndarray):
            value = [int(v) for v in value]
        elif not isinstance(value, (int, float, bool, str, type(None))):
            continue
        fields[_snake(key)] = value
    act = fields.get("fused_activation_function")
    if isinstance(act, int):
        fields["fused_activation_function"] = activation_names.get(act, act)
    return fields


def _buffer_bytes(content, buffers, index):
    if not 0 < index < len(buffers):
        return b""
    buffer = buffers[index]
    if buffer.data is not None and len(buffer.data):
        return np.asarray(buffer.data, np.uint8).tobytes()
    if buffer.offset and buffer.offset > 1 and buffer.size:
        return bytes(content[buffer.offset : buffer.offset + buffer.size])
    return b""


def _tensor(content, model, tensor, index, type_names):
    raw = _buffer_bytes(content, model.buffers or [], tensor.buffer)
    dtype_name = type_names.get(tensor.type, str(tensor.type))
    np_dtype = _DTYPES.get(dtype_name)
    shape = tuple(
        int(d) for d in (tensor.shape if tensor.shape is not None else ())
    )
    value = None
    if raw and np_dtype is not None and len(raw) <= _MAX_DECODED:
        value = np.frombuffer(raw, dtype=np_dtype)
        if shape and int(np.prod(shape)) == value.size:
            value = value.reshape(shape)
    signature = tensor.shapeSignature
    if signature is not None and len(signature):
        signature = tuple(int(d) for d in signature)
    else:
        signature = None
    name = (
        tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name
    )
    return TensorView(
        index=index,
        name=name or "",
        shape=shape,
        signature=signature,
        dtype=dtype_name.lower(),
        constant=bool(raw),
        value=value,
    )


def _layers(content, layer_names):
    """Layer names by op index; none when no interpreter can load the
    model (a compiled model's `edgetpu-custom-op` needs libedgetpu)."""
    try:
        records = read_ops(content, layer_names)
    except (RuntimeError, ValueError):
        return {}
    return {r.index: r.layer for r in records}


def read_graph(model_content, layer_names=None):
    """Reads the operators and tensors of a TFLite model.

    Args:
        model_content: The `.tflite` flatbuffer, as bytes (checked with
            `tf_compact.lite.flatbuffer.load_model_content` by the caller).
        layer_names: Optional Keras layer names, to name ops by layer.
            Defaults to `None`.

    Returns:
        A `GraphView`.

    Example:

    ```python
    graph = read_graph(tflite)
    print([(op.op, op.version) for op in graph.ops])
    ```
    """
    schema = model_schema()
    content = bytes(model_content)
    model = schema.ModelT.InitFromPackedBuf(content, 0)
    op_names = _names(schema.BuiltinOperator)
    type_names = _names(schema.TensorType)
    activation_names = _names(schema.ActivationFunctionType)
    codes = []
    for code in model.operatorCodes or []:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = op_names.get(builtin, str(builtin))
        if name == "CUSTOM" and code.customCode:
            custom = code.customCode
            name = custom.decode() if isinstance(custom, bytes) else custom
        codes.append((name, int(code.version)))
    layers = _layers(content, layer_names)
    ops, io = [], None
    for s, subgraph in enumerate(model.subgraphs or []):
        tensors = subgraph.tensors or []

        def view(i, tensors=tensors):
            return _tensor(content, model, tensors[i], int(i), type_names)

        if s == 0:
            io = (
                [view(i) for i in subgraph.inputs],
                [view(i) for i in subgraph.outputs],
            )
        for o, operator in enumerate(subgraph.operators or []):
            name, version = codes[operator.opcodeIndex]
            ins = operator.inputs if operator.inputs is not None else []
            outs = operator.outputs if operator.outputs is not None else []
            ops.append(
                OpView(
                    index=o,
                    op=name,
                    version=version,
                    options=_options(operator, activation_names),
                    inputs=[view(i) for i in ins if i >= 0],
                    outputs=[view(i) for i in outs if i >= 0],
                    layer=layers.get(o) if s == 0 else None,
                    subgraph=s,
                )
            )
    inputs, outputs = io if io is not None else ([], [])
    return GraphView(
        ops=ops,
        inputs=inputs,
        outputs=outputs,
        num_subgraphs=len(model.subgraphs or []),
    )


def is_compiled_for_edgetpu(model):
    """Whether a `.tflite` model holds the compiler's `edgetpu-custom-op`.

    `edgetpu_compiler` replaces the ops it maps by one custom op per Edge
    TPU subgraph; a model without it runs entirely on the CPU, even with
    the Edge TPU delegate loaded.

    Args:
        model: The `.tflite` model: bytes, or the path of a file.

    Returns:
        A bool.

    Raises:
        ValueError: If `model` is not a TFLite model.

    Example:

    ```python
    is_compiled_for_edgetpu("model_edgetpu.tflite")
    ```
    """
    schema = model_schema()
    model = schema.Model.GetRootAsModel(load_model_content(model), 0)
    for i in range(model.OperatorCodesLength()):
        custom = model.OperatorCodes(i).CustomCode()
        if custom is not None and custom.decode() == EDGETPU_CUSTOM_OP:
            return True
    return False
