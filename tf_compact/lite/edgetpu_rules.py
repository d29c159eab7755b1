"""Coral's documented requirements for a model to run on the Edge TPU.

Sources: Coral's "TensorFlow models on the Edge TPU" page (model
requirements and the supported-operations table, compiler 16) and the
Edge TPU compiler's documented behaviour:

- every tensor is 8-bit quantized (int8 or uint8); float, int16 or int32
  activations are not mapped;
- tensor sizes are constant at compile time (no dynamic dimension);
- weights and biases are constants;
- tensors have at most three dimensions of size above 1, the innermost
  three (so the batch of an image tensor is 1);
- only the listed operations map, each with its own limits;
- the compiler cuts the graph once: from the first operation that does not
  map, it and every later operation run on the CPU;
- the compiler links a TensorFlow Lite op registry of its own time and
  refuses ("Didn't find op for builtin opcode ... version ...") a model
  holding an op version newer than it knows.

Each per-op rule is a small function registered in `OP_RULES` by op name;
it returns `Violation`s saying what is wrong and how to fix it.
"""

import dataclasses

import numpy as np

ERROR = "error"
WARNING = "warning"

# Ops that map to the Edge TPU (compiler 16). QUANTIZE between integer
# types maps; float->int QUANTIZE and DEQUANTIZE at the model's edges run on
# the CPU without cutting the graph.
EDGETPU_OPS = frozenset(
    {
        "ADD",
        "AVERAGE_POOL_2D",
        "CONCATENATION",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "EXPAND_DIMS",
        "FULLY_CONNECTED",
        "L2_NORMALIZATION",
        "LOGISTIC",
        "LSTM",
        "MAXIMUM",
        "MAX_POOL_2D",
        "MEAN",
        "MINIMUM",
        "MUL",
        "PACK",
        "PAD",
        "PRELU",
        "QUANTIZE",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "RSQRT",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "SPLIT",
        "SQUARED_DIFFERENCE",
        "SQUEEZE",
        "STRIDED_SLICE",
        "SUB",
        "SUM",
        "TANH",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
    }
)

# Op versions and the TensorFlow Lite runtime that introduced them
# (tensorflow/lite/tools/versioning/runtime_version.cc). The compiler 16
# registry accepts versions of TF 2.5 and older: it is known to refuse
# CONV_2D v6 (TF 2.9), QUANTIZE v3 (TF 2.7) and TRANSPOSE_CONV v4. Versions
# of TF 2.6 are marked uncertain. Entry: (highest accepted, highest
# uncertain).
COMPILER_VERSIONS = {
    "ADD": (3, 4),
    "AVERAGE_POOL_2D": (3, 3),
    "CONCATENATION": (3, 3),
    "CONV_2D": (5, 5),
    "DEPTHWISE_CONV_2D": (6, 6),
    "DEQUANTIZE": (4, 4),
    "EXPAND_DIMS": (1, 1),
    "FULLY_CONNECTED": (9, 9),
    "L2_NORMALIZATION": (2, 2),
    "LOGISTIC": (3, 3),
    "LSTM": (4, 4),
    "MAXIMUM": (4, 4),
    "MAX_POOL_2D": (3, 3),
    "MEAN": (3, 3),
    "MINIMUM": (4, 4),
    "MUL": (4, 5),
    "PACK": (3, 3),
    "PAD": (3, 4),
    "PRELU": (1, 1),
    "QUANTIZE": (2, 2),
    "REDUCE_MAX": (3, 3),
    "REDUCE_MIN": (3, 3),
    "RELU": (3, 3),
    "RELU6": (3, 3),
    "RELU_N1_TO_1": (1, 1),
    "RESHAPE": (1, 1),
    "RESIZE_BILINEAR": (4, 4),
    "RESIZE_NEAREST_NEIGHBOR": (4, 4),
    "RSQRT": (2, 2),
    "SLICE": (5, 5),
    "SOFTMAX": (3, 3),
    "SPACE_TO_DEPTH": (2, 2),
    "SPLIT": (4, 4),
    "SQUARED_DIFFERENCE": (2, 2),
    "SQUEEZE": (2, 2),
    "STRIDED_SLICE": (5, 6),
    "SUB": (5, 5),
    "SUM": (2, 2),
    "TANH": (3, 3),
    "TRANSPOSE": (5, 5),
    "TRANSPOSE_CONV": (3, 3),
    # Ops that stay on the CPU but must still parse.
    "BATCH_MATMUL": (4, 4),
    "CAST": (1, 1),
    "DIV": (2, 2),
    "EXP": (1, 1),
    "GATHER": (5, 5),
    "HARD_SWISH": (1, 1),
    "LEAKY_RELU": (2, 2),
    "SHAPE": (1, 1),
}

INTEGER_DTYPES = ("int8", "uint8")
# Fused activations the Edge TPU also has as operations.
FUSED_OK = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
NO_FUSED = ("AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION")
SOFTMAX_MAX = 16000


@dataclasses.dataclass
class Violation:
    """A requirement an op fails.

    Args:
        rule: Short rule id, e.g. `"fused_activation"`.
        severity: `"error"` (the op does not map) or `"warning"` (it may
            not map; the compiler decides).
        message: What is wrong, with the values read from the model.
        fix: How to change the Keras model or the conversion.
    """

    rule: str
    severity: str
    message: str
    fix: str


def _large_dims(shape):
    return [d for d in shape if d > 1]


def _axes(value, rank):
    if value is None:
        return None
    return sorted({int(a) % rank for a in np.asarray(value).reshape(-1)})


def _input_rank(op):
    tensors = [t for t in op.inputs if not t.constant]
    return len(tensors[0].shape) if tensors else 0


def check_dtypes(op):
    """Full integer: every activation the op reads or writes is 8-bit."""
    bad = sorted(
        {t.dtype for t in op.activations if t.dtype not in INTEGER_DTYPES}
    )
    if not bad:
        return []
    floats = any(d.startswith("float") for d in bad)
    fix = (
        "convert with mode='int8' and representative data (or "
        "mode='qat'); replace layers the converter leaves in float"
        if floats
        else "remove the shape arithmetic or 16-bit activations that make "
        "non-8-bit tensors (give the model a static batch: "
        "convert(..., target='edgetpu'))"
    )
    return [
        Violation(
            "full_int8",
            ERROR,
            f"reads or writes {', '.join(bad)} tensors (the Edge TPU "
            "computes on int8/uint8 only)",
            fix,
        )
    ]


def check_static(op):
    """Tensor sizes are constant at compile time."""
    dynamic = [t for t in op.activations if t.dynamic]
    if not dynamic:
        return []
    t = dynamic[0]
    return [
        Violation(
            "static_shape",
            ERROR,
            f"tensor {t.name!r} has a dynamic shape_signature "
            f"{list(t.signature)}",
            "convert with target='edgetpu' (batch-1 static inputs), or "
            "build the model on keras.Input(shape, batch_size=1)",
        )
    ]


def check_rank(op):
    """Only the innermost three dimensions may be larger than 1."""
    for t in op.activations:
        outer = [d for d in t.shape[:-3] if d > 1]
        if not outer:
            continue
        batch = len(t.shape) == 4 and t.shape[0] > 1
        what = (
            f"batch size {t.shape[0]}"
            if batch
            else f"{len(_large_dims(t.shape))} dimensions above 1"
        )
        return [
            Violation(
                "tensor_rank",
                ERROR,
                f"tensor {t.name!r} of shape {list(t.shape)} has {what}; "
                "only the innermost three dimensions may exceed 1",
                "use batch size 1 (convert(..., target='edgetpu')) and "
                "keep activations at most 3-D beyond a batch of 1",
            )
        ]
    return []


def check_constant_weights(op):
    """Weights and biases are compile-time constants."""
    if op.op not in (
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "TRANSPOSE_CONV",
    ):
        return []
    # Weights are input 1 of all four (TRANSPOSE_CONV: after the shape).
    if len(op.inputs) > 1 and not op.inputs[1].constant:
        return [
            Violation(
                "constant_weights",
                ERROR,
                "its weights are computed at run time, not constants",
                "use a layer with its own weights (Conv2D, Dense), not a "
                "matmul of two activations",
            )
        ]
    return []


def check_fused_activation(op):
    """Pooling and concatenation take no fused activation; others only
    the activations the Edge TPU has."""
    act = op.options.get("fused_activation_function")
    if act is None or act == "NONE":
        return []
    if op.op in NO_FUSED:
        return [
            Violation(
                "fused_activation",
                ERROR,
                f"{op.op} with fused activation {act} (Coral: no fused "
                "activation for pooling and concatenation)",
                "put the activation before the pooling/concatenation, or "
                "keep it from being fused (e.g. a separate ReLU after a "
                "layer that is not pooling)",
            )
        ]
    if act not in FUSED_OK:
        return [
            Violation(
                "fused_activation",
                WARNING,
                f"fused activation {act} is not one of the Edge TPU's "
                f"activations {list(FUSED_OK)}",
                "use relu or relu6 as the layer's activation",
            )
        ]
    return []


def _check_dilation(op):
    h = op.options.get("dilation_h_factor", 1)
    w = op.options.get("dilation_w_factor", 1)
    if h == w:
        return []
    return [
        Violation(
            "dilation",
            ERROR,
            f"dilation {h}x{w} differs between y and x (Coral: the same "
            "dilation in x and y)",
            "use the same dilation_rate in both spatial dimensions",
        )
    ]


def _check_fully_connected(op):
    found = []
    if op.options.get("weights_format", 0) != 0:
        found.append(
            Violation(
                "weights_format",
                ERROR,
                "fully-connected weights are not in the default format",
                "convert without shuffled/sparse weight formats",
            )
        )
    for t in op.outputs:
        if len(_large_dims(t.shape)) > 1:
            found.append(
                Violation(
                    "fc_output",
                    ERROR,
                    f"output {list(t.shape)} is not one-dimensional "
                    "(Coral: the fully-connected output is 1-D)",
                    "apply Dense to a flattened or pooled 1-D feature "
                    "vector, or use a 1x1 Conv2D on feature maps",
                )
            )
    return found


def _reduction_axes(op):
    if len(op.inputs) < 2 or op.inputs[1].value is None:
        return None
    return _axes(op.inputs[1].value, _input_rank(op))


def _batch_violation(op, what):
    return Violation(
        "batch_axis",
        ERROR,
        f"{what} along the batch dimension",
        "reshape so the batch dimension is left alone (batch size 1)",
    )


def _check_reduce(op):
    axes = _reduction_axes(op)
    rank = _input_rank(op)
    if axes is None or rank < 2:
        return []
    found = []
    if rank == 4 and 0 in axes:
        found.append(_batch_violation(op, f"{op.op} reduces"))
    if op.op == "MEAN" and rank == 4 and 3 in axes:
        channels = op.inputs[0].shape[3]
        if channels % 4:
            found.append(
                Violation(
                    "mean_axes",
                    ERROR,
                    f"MEAN over the channel axis of {channels} channels "
                    "(Coral: a z-reduction needs a multiple of 4)",
                    "pad the channels to a multiple of 4 or reduce over "
                    "height and width only",
                )
            )
        else:
            found.append(
                Violation(
                    "mean_axes",
                    WARNING,
                    "MEAN over the channel axis maps only with Edge TPU "
                    "runtime 13 or later (older: x and y only)",
                    "reduce over height and width only to run on older "
                    "runtimes",
                )
            )
    return found


def _check_pad(op):
    if len(op.inputs) < 2 or op.inputs[1].value is None:
        return []
    pads = np.asarray(op.inputs[1].value).reshape(-1, 2)
    if len(pads) != 4:
        return []
    found = []
    if np.any(pads[0]):
        found.append(_batch_violation(op, "PAD pads"))
    if np.any(pads[3]):
        found.append(
            Violation(
                "pad_axes",
                WARNING,
                "PAD pads the channel axis, which maps only with Edge TPU "
                "runtime 13 or later (older: x and y only)",
                "pad height and width only to run on older runtimes",
            )
        )
    return found


def _check_axis_option(op, what):
    """PACK and SPLIT leave the batch (axis 0) alone."""
    if op.op == "SPLIT":
        if len(op.inputs) < 2 or op.inputs[0].value is None:
            return []
        axis = int(np.asarray(op.inputs[0].value).reshape(-1)[0])
        rank = len(op.inputs[1].shape)
    else:
        axis = op.options.get("axis")
        rank = len(op.outputs[0].shape) if op.outputs else 0
    if axis is None or rank < 2 or axis % rank != 0:
        return []
    return [_batch_violation(op, what)]


def _check_softmax(op):
    shape = op.inputs[0].shape if op.inputs else ()
    size = int(np.prod(shape)) if shape else 0
    if len(_large_dims(shape)) <= 1 and size <= SOFTMAX_MAX:
        return []
    return [
        Violation(
            "softmax_shape",
            ERROR,
            f"SOFTMAX on {list(shape)} (Coral: 1-D input of at most "
            f"{SOFTMAX_MAX} elements)",
            "apply softmax to the flat class vector, or leave it out of "
            "the model and apply it on the host",
        )
    ]


def _check_strided_slice(op):
    strides = op.inputs[3].value if len(op.inputs) > 3 else None
    found = []
    if strides is not None and np.any(np.asarray(strides) != 1):
        found.append(
            Violation(
                "strides",
                ERROR,
                f"STRIDED_SLICE with strides {np.asarray(strides).tolist()}"
                " (Coral: all strides 1)",
                "slice with step 1 (or use a strided convolution/pooling)",
            )
        )
    for mask in ("ellipsis_mask", "new_axis_mask"):
        if op.options.get(mask, 0):
            found.append(
                Violation(
                    "strided_slice_mask",
                    ERROR,
                    f"STRIDED_SLICE with {mask}={op.options[mask]} "
                    "(Coral: must be 0)",
                    "slice with explicit ranges instead of ... or None",
                )
            )
    return found


def _check_resize(op):
    for t in op.inputs[:1] + op.outputs:
        if len(_large_dims(t.shape)) > 3 or (
            len(t.shape) == 4 and t.shape[0] != 1
        ):
            return [
                Violation(
                    "resize_shape",
                    ERROR,
                    f"{op.op} on {list(t.shape)} (Coral: 3-D input/output)",
                    "resize one image (batch 1) at a time",
                )
            ]
    return [
        Violation(
            "resize_precision",
            WARNING,
            f"{op.op} may be kept on the CPU for precision, depending on "
            "the input and output sizes (the compiler decides)",
            "prefer integer scale factors (e.g. UpSampling2D(2))",
        )
    ]


def _check_concatenation(op):
    constants = [t for t in op.inputs if t.constant]
    if not constants:
        return []
    zeros = all(t.value is not None and not np.any(t.value) for t in constants)
    if len(op.inputs) == 2 and zeros:
        return []
    return [
        Violation(
            "concat_constant",
            ERROR,
            "CONCATENATION with a constant input (Coral: only with 2 "
            "inputs, the constant all zeros)",
            "concatenate activations only; add constants another way",
        )
    ]


def _check_prelu(op):
    alpha = op.inputs[1] if len(op.inputs) > 1 else None
    if alpha is None or len(_large_dims(alpha.shape[:-1])) == 0:
        return []
    return [
        Violation(
            "prelu_alpha",
            ERROR,
            f"PRELU alpha of shape {list(alpha.shape)} (Coral: only the "
            "innermost dimension may exceed 1)",
            "use keras.layers.PReLU(shared_axes=[1, 2])",
        )
    ]


OP_RULES = {
    "CONV_2D": [_check_dilation],
    "DEPTHWISE_CONV_2D": [_check_dilation],
    "FULLY_CONNECTED": [_check_fully_connected],
    "MEAN": [_check_reduce],
    "SUM": [_check_reduce],
    "REDUCE_MAX": [_check_reduce],
    "REDUCE_MIN": [_check_reduce],
    "PAD": [_check_pad],
    "PACK": [lambda op: _check_axis_option(op, "PACK packs")],
    "SPLIT": [lambda op: _check_axis_option(op, "SPLIT splits")],
    "SOFTMAX": [_check_softmax],
    "STRIDED_SLICE": [_check_strided_slice],
    "RESIZE_BILINEAR": [_check_resize],
    "RESIZE_NEAREST_NEIGHBOR": [_check_resize],
    "CONCATENATION": [_check_concatenation],
    "PRELU": [_check_prelu],
}
COMMON_RULES = (
    check_dtypes,
    check_static,
    check_rank,
    check_constant_weights,
    check_fused_activation,
)


def check_version(op):
    """Whether the compiler's op registry knows this op version.

    Returns:
        A list with one `Violation` when the version is newer than the
        compiler accepts (error: the compiler refuses the whole model) or
        than it is known to accept (warning), else `[]`.
    """
    known = COMPILER_VERSIONS.get(op.op)
    if known is None:
        return []
    accepted, uncertain = known
    if op.version <= accepted:
        return []
    fix = (
        f"the compiler knows {op.op} up to version {accepted}: convert "
        "with a TensorFlow whose converter emits an older version, or "
        "avoid the feature that raised it (e.g. 16-bit activations)"
    )
    if op.version <= uncertain:
        return [
            Violation(
                "op_version",
                WARNING,
                f"{op.op} version {op.version} is newer than the versions "
                "the compiler is known to accept",
                fix,
            )
        ]
    return [
        Violation(
            "op_version",
            ERROR,
            f"{op.op} version {op.version} is newer than the compiler's "
            "op registry: it refuses the whole model",
            fix,
        )
    ]


def check_op(op):
    """All the mapping rules for one op (versions aside).

    Args:
        op: An `OpView`.

    Returns:
        The `Violation`s, errors first.

    Example:

    ```python
    for op in read_graph(tflite).ops:
        print(op.op, check_op(op))
    ```
    """
    if op.op not in EDGETPU_OPS:
        return [
            Violation(
                "op_support",
                ERROR,
                f"{op.op} is not an Edge TPU operation",
                "replace the layer with one built from supported ops "
                "(e.g. ReLU instead of LeakyReLU, GlobalAveragePooling2D "
                "instead of a custom reduction)",
            )
        ]
    found = []
    for rule in COMMON_RULES + tuple(OP_RULES.get(op.op, ())):
        found.extend(rule(op))
    return sorted(found, key=lambda v: v.severity != ERROR)
