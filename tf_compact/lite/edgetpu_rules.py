"""Coral's documented requirements for a model to run on the Edge TPU.

Sources: Coral's "TensorFlow models on the Edge TPU" page (model
requirements and the supported-operations table, compiler 16) and the
Edge TPU compiler's documented behaviour:

- every tensor is 8-bit quantized (int8 or uint8); float, int16 or int32
  activations are not mapped;
- tensor sizes are constant at compile time (no dynamic dimension);
- weights and biases are constants;
- only the innermost three dimensions may exceed 1 (so batch 1 images);
- only the listed operations map, each with its own limits;
- the graph is cut once: from the first op that does not map, all run on
  the CPU;
- the compiler links a TensorFlow Lite op registry of its own time and
  refuses ("Didn't find op for builtin opcode ... version ...") a model
  holding an op version newer than it knows.

The rules every op shares are here (`COMMON_RULES`, `check_version`); the
per-op limits are in `tf_compact.lite.edgetpu_limits`. A rule returns
`Violation`s saying what is wrong and how to fix it.
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


def large_dims(shape):
    return [d for d in shape if d > 1]


def axes_of(value, rank):
    if value is None:
        return None
    return sorted({int(a) % rank for a in np.asarray(value).reshape(-1)})


def input_rank(op):
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


_BATCH_FIX = "use batch size 1 (convert(..., target='edgetpu'))"
_RANK_FIX = "merge the dimensions beyond the innermost three (Reshape)"


def check_rank(op):
    """Only the innermost three dimensions may be larger than 1."""
    for t in op.activations:
        outer = [d for d in t.shape[:-3] if d > 1]
        if not outer:
            continue
        what, fix = f"batch size {t.shape[0]}", _BATCH_FIX
        if len(t.shape) != 4 or t.shape[0] == 1:
            what, fix = f"{len(large_dims(t.shape))} dims above 1", _RANK_FIX
        return [
            Violation(
                "tensor_rank",
                ERROR,
                f"tensor {t.name!r} of shape {list(t.shape)} has {what}; "
                "only the innermost three dimensions may exceed 1",
                fix,
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
        "replace the layer that emits it (an op's version rises with "
        "features such as fused activations or 16-bit activations)"
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
