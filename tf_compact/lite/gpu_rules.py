"""Which TFLite ops the LiteRT GPU delegate takes, and on what conditions.

The rules follow the GPU delegate's published op list and the per-op
conditions it checks before taking a node (fused activations, cast types,
slice masks and ranks, constant reduction axes, padding shapes, softmax
beta, fully-connected weight formats). An op that fails them runs on the
CPU.
"""

from tf_compact.lite.flatbuffer import model_schema

# Builtin ops the delegate implements (enum names of the TFLite schema).
GPU_OPS = frozenset(
    [
        "ABS",
        "ADD",
        "ADD_N",
        "ATAN2",
        "AVERAGE_POOL_2D",
        "BATCH_MATMUL",
        "CAST",
        "CEIL",
        "CONCATENATION",
        "CONV_2D",
        "COS",
        "CUMSUM",
        "DENSIFY",
        "DEPTHWISE_CONV_2D",
        "DEPTH_TO_SPACE",
        "DEQUANTIZE",
        "DIV",
        "DYNAMIC_UPDATE_SLICE",
        "ELU",
        "EMBEDDING_LOOKUP",
        "EQUAL",
        "EXP",
        "FLOOR",
        "FLOOR_DIV",
        "FLOOR_MOD",
        "FULLY_CONNECTED",
        "GATHER",
        "GELU",
        "GREATER",
        "GREATER_EQUAL",
        "HARD_SWISH",
        "LEAKY_RELU",
        "LESS",
        "LESS_EQUAL",
        "LOG",
        "LOGICAL_AND",
        "LOGISTIC",
        "LSTM",
        "MAXIMUM",
        "MAX_POOL_2D",
        "MEAN",
        "MINIMUM",
        "MIRROR_PAD",
        "MUL",
        "NEG",
        "NOT_EQUAL",
        "ONE_HOT",
        "PACK",
        "PAD",
        "PADV2",
        "POW",
        "PRELU",
        "QUANTIZE",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "REDUCE_PROD",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "RSQRT",
        "SELECT",
        "SELECT_V2",
        "SIGN",
        "SIN",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "SPLIT",
        "SPLIT_V",
        "SQRT",
        "SQUARE",
        "SQUARED_DIFFERENCE",
        "STABLEHLO_CLAMP",
        "STRIDED_SLICE",
        "SUB",
        "SUM",
        "TANH",
        "TILE",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
    ]
)
GPU_CUSTOM_OPS = frozenset(
    (
        "Convolution2DTransposeBias",
        "MaxPoolingWithArgmax2D",
        "MaxUnpooling2D",
        "Resampler",
    )
)
_ACTIVATION_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "MUL", "DIV", "SUB")
_SIGN_BIT = 5
_REDUCTIONS = ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD")
_PADS = ("PAD", "PADV2", "MIRROR_PAD")
_FLOAT_OR_INT32 = ("FLOAT32", "INT32")
_FLOATS = ("FLOAT32", "FLOAT16")


def enum_names(enum_class):
    return {
        v: k
        for k, v in vars(enum_class).items()
        if not k.startswith("_") and isinstance(v, int)
    }


class OpView:
    """One operator of the first subgraph, as the rules need to see it."""

    def __init__(self, model, index, op_names, type_names):
        subgraph = model.subgraphs[0]
        op = subgraph.operators[index]
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        self.index = index
        self.name = op_names.get(builtin, str(builtin))
        custom = code.customCode
        self.custom = custom.decode() if isinstance(custom, bytes) else custom
        self.options = op.builtinOptions
        self.inputs = [self._tensor(model, i, type_names) for i in op.inputs]
        self.inputs = [t for t in self.inputs if t is not None]
        self.outputs = [self._tensor(model, i, type_names) for i in op.outputs]
        self.outputs = [t for t in self.outputs if t is not None]

    @staticmethod
    def _tensor(model, index, type_names):
        if index < 0:
            return None
        tensor = model.subgraphs[0].tensors[index]
        data = model.buffers[tensor.buffer].data
        return {
            "type": type_names.get(tensor.type, str(tensor.type)),
            "rank": len(tensor.shape) if tensor.shape is not None else 0,
            "shape": [
                int(d)
                for d in (tensor.shape if tensor.shape is not None else [])
            ],
            "const": data is not None and len(data) > 0,
        }

    def option(self, name, default=None):
        return getattr(self.options, name, default)

    @property
    def runtime_inputs(self):
        return [t for t in self.inputs if not t["const"]]


def _activation(view):
    if view.option("fusedActivationFunction", 0) == _SIGN_BIT:
        return "fused SIGN_BIT activation is not supported"
    return None


def _cast(view):
    src, dst = view.inputs[0]["type"], view.outputs[0]["type"]
    if (
        (src == "BOOL" and dst in _FLOATS)
        or (src in _FLOATS and dst == "BOOL")
        or (src in _FLOAT_OR_INT32 and dst in _FLOAT_OR_INT32)
    ):
        return None
    return f"CAST from {src} to {dst} is not supported"


def _gather(view):
    params, indices = view.inputs[0], view.inputs[-1]
    if params["type"] == "INT32":
        return "GATHER on INT32 values is not supported"
    if indices["rank"] != 1 or indices["type"] != "INT32":
        return "GATHER needs 1-D INT32 indices"
    return None


def _slice_rank(view):
    rank = view.inputs[0]["rank"]
    if rank not in (3, 4):
        return f"{view.name} takes 3-D or 4-D tensors only (rank {rank})"
    return None


def _strided_slice(view):
    for mask in ("ellipsisMask", "newAxisMask", "shrinkAxisMask"):
        if view.option(mask, 0):
            return f"STRIDED_SLICE with {mask} is not supported"
    return _slice_rank(view)


def _reduction(view):
    if len(view.inputs) < 2:
        return None
    axes = view.inputs[1]
    if not axes["const"] or axes["type"] != "INT32":
        return f"{view.name} needs constant INT32 axes"
    return None


def _pad(view):
    if view.name == "MIRROR_PAD" and view.option("mode", 0) != 0:
        return "MIRROR_PAD supports REFLECT padding only"
    paddings = view.inputs[1]["shape"] if len(view.inputs) > 1 else []
    if len(paddings) != 2 or paddings[0] not in (3, 4) or paddings[1] != 2:
        return f"{view.name} paddings must be 3x2 or 4x2 (got {paddings})"
    return None


def _fully_connected(view):
    if view.option("weightsFormat", 0) != 0:
        return "FULLY_CONNECTED with shuffled weights is not supported"
    if view.inputs and view.inputs[0]["const"]:
        return "FULLY_CONNECTED on a constant input is not supported"
    if view.option("keepNumDims", False) and (
        view.inputs[0]["rank"] != view.outputs[0]["rank"]
    ):
        return "FULLY_CONNECTED keep_num_dims with a rank change"
    return None


def _softmax(view):
    if view.option("beta", 1.0) != 1.0:
        return "SOFTMAX with beta != 1 is not supported"
    return None


def _block_size(view):
    if view.option("blockSize", 2) <= 1:
        return f"{view.name} needs block_size > 1"
    return None


def _add_n(view):
    if len(view.inputs) != 2:
        return f"ADD_N takes 2 inputs only (got {len(view.inputs)})"
    return None


def _dequantize(view):
    if view.inputs and view.inputs[0]["type"] == "INT16":
        return "DEQUANTIZE from INT16 is not supported"
    return None


_CHECKS = {
    "CAST": _cast,
    "GATHER": _gather,
    "SLICE": _slice_rank,
    "STRIDED_SLICE": _strided_slice,
    "FULLY_CONNECTED": _fully_connected,
    "SOFTMAX": _softmax,
    "DEPTH_TO_SPACE": _block_size,
    "SPACE_TO_DEPTH": _block_size,
    "ADD_N": _add_n,
    "DEQUANTIZE": _dequantize,
}
_CHECKS.update(dict.fromkeys(_REDUCTIONS, _reduction))
_CHECKS.update(dict.fromkeys(_PADS, _pad))


def gpu_reason(view):
    """Why the GPU delegate would not take the op, or `None`."""
    if view.name == "CUSTOM":
        if view.custom in GPU_CUSTOM_OPS:
            return None
        return f"custom op {view.custom!r} is not supported"
    if view.name not in GPU_OPS:
        return f"{view.name} is not supported by the GPU delegate"
    if view.name in _ACTIVATION_OPS:
        reason = _activation(view)
        if reason:
            return reason
    check = _CHECKS.get(view.name)
    return check(view) if check else None


def op_views(model):
    """An `OpView` per operator of the first subgraph, in order."""
    schema = model_schema()
    op_names = enum_names(schema.BuiltinOperator)
    type_names = enum_names(schema.TensorType)
    count = len(model.subgraphs[0].operators or [])
    return [OpView(model, i, op_names, type_names) for i in range(count)]
