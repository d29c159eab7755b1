"""Cost functions for `keras.ops` calls recorded in Functional graphs.

Writing `keras.ops.add(x, y)` or `keras.ops.hard_silu(x)` while building a
Functional model records an operation node, not a layer (MobileNetV3 and
ConvNeXt do this). The operation classes live in Keras's private modules,
so they are looked up by name and skipped when a Keras version lacks them.
Conventions follow `layer_costs`: element-wise work is `other_ops`, only
matrix products are MACs.
"""

import math

from tf_compact.internal import keras_compat
from tf_compact.profile import layer_costs
from tf_compact.profile.registry import register_macs

_ELEMENTWISE = {
    "numpy": (
        "Abs Absolute Add Ceil Clip Divide Exp Floor Log Maximum Minimum "
        "Multiply Negative Power Reciprocal Round Sign Sqrt Square Subtract "
        "Tanh TrueDivide Where"
    ),
    "nn": (
        "Elu Gelu HardSigmoid HardSilu LeakyRelu LogSoftmax Relu Relu6 Selu "
        "Sigmoid Silu Softmax Softplus Softsign"
    ),
    "math": "Erf Rsqrt",
}
_REDUCTIONS = {"numpy": "Max Mean Min Prod Sum"}
_ZERO = {
    "numpy": (
        "BroadcastTo Concatenate Copy ExpandDims Flip GetItem Moveaxis Pad "
        "Ravel Repeat Reshape Split Squeeze Stack Swapaxes Tile Transpose"
    ),
    "core": "Cast ConvertToTensor",
}


def reduction_cost(op, input_shapes, output_shapes):
    """Reductions (mean, sum, max): one op per input element."""
    return 0, math.prod(input_shapes[0])


def matmul_cost(op, input_shapes, output_shapes):
    """Matrix product: out_elems * size of the contracted dimension."""
    return math.prod(output_shapes[0]) * int(input_shapes[0][-1]), 0


def _classes(module_name, names):
    module = keras_compat.ops_module(module_name)
    if module is None:
        return []
    found = (getattr(module, name, None) for name in names.split())
    return [cls for cls in found if cls is not None]


def _register(table, fn):
    for module_name, names in table.items():
        for cls in _classes(module_name, names):
            register_macs(cls, fn)


def _register_layer_scale():
    """ConvNeXt's LayerScale multiplies by a per-channel vector."""
    module = keras_compat.applications_module("convnext")
    cls = getattr(module, "LayerScale", None)
    if cls is not None:
        register_macs(cls, layer_costs.elementwise_cost)


_register(_ELEMENTWISE, layer_costs.elementwise_cost)
_register(_REDUCTIONS, reduction_cost)
_register(_ZERO, layer_costs.zero_cost)
_register({"numpy": "Matmul"}, matmul_cost)
_register_layer_scale()
