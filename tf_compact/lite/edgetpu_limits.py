"""Coral's per-operation limits for the Edge TPU (compiler 16).

From the "Known limitations" column of Coral's supported-operations
table: no fused activation on pooling and concatenation, the same dilation
in x and y, fully-connected output one-dimensional in the default weights
format, no reduction, padding, packing or splitting along the batch, a
channel (z) reduction only over a multiple of 4 channels, softmax on a 1-D
input of at most 16,000 elements, strided slices with stride 1 and no
ellipsis/new-axis masks, resizes on 3-D tensors (and possibly kept on the
CPU for precision), concatenation with a constant only as a 2-input zero
pad, PReLU alpha varying along the innermost dimension only.

`OP_RULES` maps an op name to its checks; `check_op` applies them after
the rules every op shares (`edgetpu_rules.COMMON_RULES`).
"""

import numpy as np

from tf_compact.lite.edgetpu_rules import COMMON_RULES
from tf_compact.lite.edgetpu_rules import EDGETPU_OPS
from tf_compact.lite.edgetpu_rules import ERROR
from tf_compact.lite.edgetpu_rules import SOFTMAX_MAX
from tf_compact.lite.edgetpu_rules import WARNING
from tf_compact.lite.edgetpu_rules import Violation
from tf_compact.lite.edgetpu_rules import axes_of
from tf_compact.lite.edgetpu_rules import input_rank
from tf_compact.lite.edgetpu_rules import large_dims


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
        if len(large_dims(t.shape)) > 1:
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
    return axes_of(op.inputs[1].value, input_rank(op))


def _batch_violation(op, what):
    return Violation(
        "batch_axis",
        ERROR,
        f"{what} along the batch dimension",
        "reshape so the batch dimension is left alone (batch size 1)",
    )


def _check_reduce(op):
    axes = _reduction_axes(op)
    rank = input_rank(op)
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
    if len(large_dims(shape)) <= 1 and size <= SOFTMAX_MAX:
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
        if len(large_dims(t.shape)) > 3 or (
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
    if alpha is None or len(large_dims(alpha.shape[:-1])) == 0:
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


_UNSUPPORTED_FIX = (
    "replace the layer with one built from supported ops (e.g. ReLU "
    "instead of LeakyReLU, GlobalAveragePooling2D instead of a custom "
    "reduction)"
)
_UNSUPPORTED_FIXES = {
    "CAST": "remove the cast between types: a model taking uint8 images "
    "converts with target='edgetpu' on a float input (the file's uint8 "
    "input quantizes it); elsewhere drop the `ops.cast` or dtype change",
    "TILE": "upsample with keras.layers.Resizing or "
    "UpSampling2D(interpolation='bilinear') (RESIZE_* ops map); Keras 3's "
    "nearest UpSampling2D lowers to TILE and RESHAPE",
}


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
        fix = _UNSUPPORTED_FIXES.get(op.op, _UNSUPPORTED_FIX)
        return [
            Violation(
                "op_support",
                ERROR,
                f"{op.op} is not an Edge TPU operation",
                fix,
            )
        ]
    found = []
    for rule in COMMON_RULES + tuple(OP_RULES.get(op.op, ())):
        found.extend(rule(op))
    return sorted(found, key=lambda v: v.severity != ERROR)
