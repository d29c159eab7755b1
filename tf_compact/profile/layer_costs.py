"""Built-in cost functions for the Keras layers the profiler knows.

Each function follows the `register_macs` contract and returns either the
multiply-accumulates of one call or a `(macs, other_ops)` pair. Conventions
are described in the `tf_compact.profile` package docstring; bias additions
and fused activations of convolutions and dense layers are `other_ops`.
"""

import math

import keras

from tf_compact.internal import keras_compat
from tf_compact.profile.attention_costs import dot_attention_cost
from tf_compact.profile.attention_costs import einsum_dense_cost
from tf_compact.profile.attention_costs import multi_head_attention_cost
from tf_compact.profile.registry import get_macs_fn
from tf_compact.profile.registry import register_macs

L = keras.layers


def _prod(values):
    return math.prod(int(v) for v in values)


def _channel_axis(layer):
    fmt = getattr(layer, "data_format", "channels_last")
    return 1 if fmt == "channels_first" else -1


def _fused_ops(layer, out_elems):
    """Bias adds and fused activations: one op per output element each."""
    ops = out_elems if getattr(layer, "use_bias", False) else 0
    activation = getattr(layer, "activation", None)
    if activation is not None and activation is not keras.activations.linear:
        ops += out_elems
    return ops


def conv_cost(layer, input_shapes, output_shapes):
    """Convolution: out_elems * prod(kernel_size) * cin / groups.

    For a grouped convolution `cin / groups` is read from its kernel, so a
    call with fewer input channels (a slimming estimate, where `groups`
    narrows with them) counts the input channels of one group.
    """
    cin = int(input_shapes[0][_channel_axis(layer)])
    out_elems = _prod(output_shapes[0])
    groups = getattr(layer, "groups", 1) or 1
    if groups > 1:
        kernel = getattr(layer, "kernel", None)
        cin = int(kernel.shape[-2]) if kernel is not None else cin // groups
    macs = out_elems * _prod(layer.kernel_size) * cin
    return macs, _fused_ops(layer, out_elems)


def conv_transpose_cost(layer, input_shapes, output_shapes):
    """Transposed convolution: in_elems * prod(kernel_size) * filters."""
    in_elems = _prod(input_shapes[0])
    filters = int(output_shapes[0][_channel_axis(layer)])
    macs = in_elems * _prod(layer.kernel_size) * filters
    return macs, _fused_ops(layer, _prod(output_shapes[0]))


def depthwise_cost(layer, input_shapes, output_shapes):
    """Depthwise convolution: out_elems * prod(kernel_size)."""
    out_elems = _prod(output_shapes[0])
    macs = out_elems * _prod(layer.kernel_size)
    return macs, _fused_ops(layer, out_elems)


def separable_cost(layer, input_shapes, output_shapes):
    """Separable convolution: depthwise part plus 1x1 pointwise part."""
    axis = _channel_axis(layer)
    cin = int(input_shapes[0][axis])
    out = output_shapes[0]
    cout = int(out[axis])
    positions = _prod(out) // cout
    mid = cin * int(layer.depth_multiplier)
    macs = positions * mid * _prod(layer.kernel_size) + positions * mid * cout
    return macs, _fused_ops(layer, _prod(out))


def dense_cost(layer, input_shapes, output_shapes):
    """Dense on any rank: prod(out_shape[:-1]) * in_features * units."""
    out = output_shapes[0]
    macs = _prod(out[:-1]) * int(input_shapes[0][-1]) * int(out[-1])
    return macs, _fused_ops(layer, _prod(out))


def dot_cost(layer, input_shapes, output_shapes):
    """Dot merge: out_elems * size of the contracted axis."""
    shape1 = input_shapes[0]
    axes = layer.axes
    axis = axes if isinstance(axes, int) else axes[0]
    contracted = int(shape1[axis % len(shape1)])
    return _prod(output_shapes[0]) * contracted, 0


def zero_cost(layer, input_shapes, output_shapes):
    """Layers that only move or drop data at inference: no operations."""
    return 0, 0


def elementwise_cost(layer, input_shapes, output_shapes):
    """One operation per output element (activations, resizing)."""
    return 0, sum(_prod(shape) for shape in output_shapes)


def affine_cost(layer, input_shapes, output_shapes):
    """Scale and shift per element (inference BatchNorm, Rescaling)."""
    return 0, 2 * _prod(output_shapes[0])


def layer_norm_cost(layer, input_shapes, output_shapes):
    """Mean, variance, normalize and affine: four ops per element."""
    return 0, 4 * _prod(output_shapes[0])


def pooling_cost(layer, input_shapes, output_shapes):
    """Windowed pooling: out_elems * prod(pool_size)."""
    return 0, _prod(output_shapes[0]) * _prod(layer.pool_size)


def global_pooling_cost(layer, input_shapes, output_shapes):
    """Global pooling: one op per input element."""
    return 0, _prod(input_shapes[0])


def merge_cost(layer, input_shapes, output_shapes):
    """n-input element-wise merge: (n - 1) ops per output element."""
    return 0, (len(input_shapes) - 1) * _prod(output_shapes[0])


def average_cost(layer, input_shapes, output_shapes):
    """Average merge: n - 1 additions and one scaling per element."""
    return 0, len(input_shapes) * _prod(output_shapes[0])


def upsampling_cost(layer, input_shapes, output_shapes):
    """Nearest upsampling copies; other interpolations: one op/element."""
    if getattr(layer, "interpolation", "nearest") == "nearest":
        return 0, 0
    return 0, _prod(output_shapes[0])


def _rnn_gates(layer):
    name = type(layer).__name__
    return {"LSTM": 4, "GRU": 3}.get(name, 1)


def recurrent_cost(layer, input_shapes, output_shapes):
    """SimpleRNN/GRU/LSTM: steps * gates * units * (features + units)."""
    batch, steps, features = (int(d) for d in input_shapes[0][:3])
    units, gates = int(layer.units), _rnn_gates(layer)
    positions = batch * steps * gates * units
    macs = positions * (features + units)
    return macs, positions if getattr(layer.cell, "use_bias", True) else 0


def bidirectional_cost(layer, input_shapes, output_shapes):
    """Bidirectional: the forward and the backward layer's costs."""
    total_macs = total_other = 0
    for inner in (layer.forward_layer, layer.backward_layer):
        fn = _wrapped_fn(inner)
        macs, other = _pair(fn(inner, input_shapes[:1], output_shapes))
        total_macs, total_other = total_macs + macs, total_other + other
    return total_macs, total_other


def time_distributed_cost(layer, input_shapes, output_shapes):
    """TimeDistributed: the wrapped layer on batch * steps samples."""

    def merge(shape):
        return (int(shape[0]) * int(shape[1]),) + tuple(shape[2:])

    inner = layer.layer
    fn = _wrapped_fn(inner)
    return fn(
        inner,
        [merge(s) for s in input_shapes],
        [merge(s) for s in output_shapes],
    )


def _wrapped_fn(inner):
    fn = get_macs_fn(type(inner))
    if fn is None:
        raise ValueError(
            f"no cost function for the wrapped layer '{inner.name}' "
            f"({type(inner).__name__}); register one with `register_macs`"
        )
    return fn


def _pair(value):
    if isinstance(value, tuple | list):
        return int(value[0]), int(value[1])
    return int(value), 0


def _register_layers():
    conv = (L.Conv1D, L.Conv2D, L.Conv3D)
    transpose = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
    table = [
        (conv, conv_cost),
        (transpose, conv_transpose_cost),
        ((L.DepthwiseConv1D, L.DepthwiseConv2D), depthwise_cost),
        ((L.SeparableConv1D, L.SeparableConv2D), separable_cost),
        ((L.Dense,), dense_cost),
        ((L.EinsumDense,), einsum_dense_cost),
        ((L.Dot,), dot_cost),
        ((L.MultiHeadAttention,), multi_head_attention_cost),
        ((L.Attention, L.AdditiveAttention), dot_attention_cost),
        ((L.BatchNormalization, L.Rescaling, L.Normalization), affine_cost),
        ((L.LayerNormalization, L.GroupNormalization), layer_norm_cost),
        ((L.Add, L.Subtract, L.Multiply, L.Maximum, L.Minimum), merge_cost),
        ((L.Average,), average_cost),
        ((L.UpSampling1D, L.UpSampling2D, L.UpSampling3D), upsampling_cost),
        ((L.Resizing,), elementwise_cost),
        ((L.SimpleRNN, L.GRU, L.LSTM), recurrent_cost),
        ((L.Bidirectional,), bidirectional_cost),
        ((L.TimeDistributed,), time_distributed_cost),
    ]
    for name in ("GroupQueryAttention", "GroupedQueryAttention"):
        gqa = getattr(L, name, None)
        if gqa is not None:
            table.append(((gqa,), multi_head_attention_cost))
    for classes, fn in table:
        for cls in classes:
            register_macs(cls, fn)
    _register_by_name(_ACTIVATIONS, elementwise_cost)
    _register_by_name(_POOLING, pooling_cost)
    _register_by_name(_GLOBAL_POOLING, global_pooling_cost)
    _register_by_name(_ZERO_COST, zero_cost)
    _register_preprocessing()


def _register_preprocessing():
    """Augmentation and preprocessing layers without their own entry.

    At inference the random augmentations pass data through; the others
    (lookups, encodings, color transforms) do no matrix work: no MACs.
    """
    bases = (keras_compat.DataLayer, keras_compat.BaseImagePreprocessingLayer)
    classes = [b for b in bases if b is not None]
    classes += keras_compat.preprocessing_layer_classes()
    for cls in classes:
        if get_macs_fn(cls) is None or cls in bases:
            register_macs(cls, zero_cost)


_ACTIVATIONS = (
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Softmax",
)
_POOLING = tuple(
    f"{kind}Pooling{rank}D" for kind in ("Max", "Average") for rank in "123"
)
_GLOBAL_POOLING = tuple(
    f"Global{kind}Pooling{rank}D"
    for kind in ("Max", "Average")
    for rank in "123"
)
_ZERO_COST = (
    "InputLayer",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Identity",
    "Masking",
    "Embedding",
    "Concatenate",
    # Augmentation layers pass data through at inference; cropping copies.
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
    "RandomCrop",
    "CenterCrop",
)


def _register_by_name(names, fn):
    for name in names:
        cls = getattr(L, name, None)
        if cls is not None:
            register_macs(cls, fn)


_register_layers()
