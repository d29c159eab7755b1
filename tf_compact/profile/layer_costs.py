"""Built-in cost functions for the Keras layers the profiler knows.

Each function follows the `register_macs` contract and returns either the
multiply-accumulates of one call or a `(macs, other_ops)` pair. Conventions
are described in the `tf_compact.profile` package docstring; bias additions
and fused activations of convolutions and dense layers are `other_ops`.
"""

import math

import keras

from tf_compact.internal import keras_compat
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
    """Convolution: out_elems * prod(kernel_size) * cin / groups."""
    cin = input_shapes[0][_channel_axis(layer)]
    out_elems = _prod(output_shapes[0])
    groups = getattr(layer, "groups", 1) or 1
    macs = out_elems * _prod(layer.kernel_size) * int(cin) // groups
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


def einsum_dense_cost(layer, input_shapes, output_shapes, kernel_shape=None):
    """EinsumDense: out_elems * product of the contracted kernel dims.

    `kernel_shape` replaces the layer's kernel shape (the cost of a
    smaller copy of the layer). Defaults to `None` (the layer's).
    """
    spec = layer.equation.replace(" ", "")
    lhs, out_spec = spec.split("->")
    kernel_spec = lhs.split(",")[1]
    if kernel_shape is None:
        kernel_shape = tuple(layer.kernel.shape)
    contracted = _prod(
        dim
        for letter, dim in zip(kernel_spec, kernel_shape)
        if letter not in out_spec
    )
    out_elems = _prod(output_shapes[0])
    bias_ops = out_elems if getattr(layer, "bias", None) is not None else 0
    return out_elems * contracted, bias_ops


def dot_cost(layer, input_shapes, output_shapes):
    """Dot merge: out_elems * size of the contracted axis."""
    shape1 = input_shapes[0]
    axes = layer.axes
    axis = axes if isinstance(axes, int) else axes[0]
    contracted = int(shape1[axis % len(shape1)])
    return _prod(output_shapes[0]) * contracted, 0


def einsum_output_shape(layer, in_shape, kernel_shape=None):
    """Output shape of an EinsumDense call on `in_shape`.

    Read from the equation and the kernel (or `kernel_shape`), not from the
    shape the layer was built with (which may hold `None` for a sequence
    length).
    """
    spec = layer.equation.replace(" ", "")
    lhs, out_spec = spec.split("->")
    in_spec, kernel_spec = lhs.split(",")
    in_shape = tuple(in_shape)
    if "..." in in_spec:
        free = len(in_shape) - (len(in_spec) - 3)
        letters = "".join(chr(0x100 + i) for i in range(free))
        in_spec = in_spec.replace("...", letters)
        out_spec = out_spec.replace("...", letters)
    if kernel_shape is None:
        kernel_shape = tuple(layer.kernel.shape)
    dims = dict(zip(kernel_spec, kernel_shape))
    dims.update(zip(in_spec, in_shape))
    return tuple(dims[letter] for letter in out_spec)


def _projection(sub, in_shape, kernel_shape):
    """`(macs, other_ops, out_shape)` of an EinsumDense sublayer call."""
    out_shape = einsum_output_shape(sub, in_shape, kernel_shape)
    macs, other = einsum_dense_cost(sub, [in_shape], [out_shape], kernel_shape)
    return macs, other, out_shape


def _sublayer(layer, name):
    found = getattr(layer, name, None)
    return found if found is not None else getattr(layer, "_" + name, None)


def attention_dims(layer, dims=None):
    """Inner sizes of a multi-head attention layer, read from its kernels.

    Args:
        layer: A built `MultiHeadAttention` or `GroupQueryAttention`.
        dims: Optional dict overriding some sizes (the kept sizes of a
            layer being slimmed). Defaults to `None`.

    Returns:
        Dict with `num_heads` (query heads), `key_value_heads`, `key_dim`,
        `value_dim` and `key_channels` (features of the key input).
    """
    query = tuple(_sublayer(layer, "query_dense").kernel.shape)
    key = tuple(_sublayer(layer, "key_dense").kernel.shape)
    value = tuple(_sublayer(layer, "value_dense").kernel.shape)
    found = {
        "num_heads": int(query[1]),
        "key_value_heads": int(key[1]),
        "key_dim": int(query[2]),
        "value_dim": int(value[2]),
        "key_channels": int(key[0]),
    }
    found.update({k: int(v) for k, v in (dims or {}).items()})
    return found


def _attention_parts(layer, query, value, out_features, dims=None):
    """The projections and products of a multi-head attention call.

    Returns:
        A list of `(part, macs, other_ops)`: the query, key, value (and
        gate) projections, the scores `QKᵀ`, the softmax-weighted sum of
        values, and the output projection.
    """
    d = attention_dims(layer, dims)
    heads, kv_heads = d["num_heads"], d["key_value_heads"]
    key_dim, value_dim = d["key_dim"], d["value_dim"]
    key = tuple(value[:-1]) + (d["key_channels"],)
    parts = []
    q_macs, q_other, q_out = _projection(
        _sublayer(layer, "query_dense"), query, (query[-1], heads, key_dim)
    )
    parts.append(("query", q_macs, q_other))
    k_macs, k_other, _ = _projection(
        _sublayer(layer, "key_dense"), key, (key[-1], kv_heads, key_dim)
    )
    parts.append(("key", k_macs, k_other))
    v_macs, v_other, v_out = _projection(
        _sublayer(layer, "value_dense"), value, (value[-1], kv_heads, value_dim)
    )
    parts.append(("value", v_macs, v_other))
    gate = _sublayer(layer, "gate_dense")
    if gate is not None:
        g_macs, g_other, g_out = _projection(
            gate, query, (query[-1], heads, value_dim)
        )
        parts.append(("gate", g_macs, g_other + _prod(g_out)))
    q_index, v_index = q_out[1:-2], v_out[1:-2]
    axes = getattr(layer, "_attention_axes", None)
    if axes is None:
        axes = tuple(range(1, len(q_out) - 2))
    attended = _prod(v_index[a - 1] for a in axes)
    scores = int(q_out[0]) * int(heads) * _prod(q_index) * attended
    # Scaling the query, the softmax: one op per element each.
    parts.append(("scores", scores * int(key_dim), _prod(q_out) + scores))
    parts.append(("weighted_values", scores * int(value_dim), 0))
    out_in = tuple(q_out[:-1]) + (int(value_dim),)
    out_dense = _sublayer(layer, "output_dense")
    out_kernel = tuple(out_dense.kernel.shape)
    out_kernel = (heads, value_dim) + out_kernel[2:-1] + (int(out_features),)
    o_macs, o_other, _ = _projection(out_dense, out_in, out_kernel)
    parts.append(("output", o_macs, o_other))
    return parts


def attention_parts(layer, input_shapes, output_shapes=None, dims=None):
    """Parts of `MultiHeadAttention`/`GroupQueryAttention` costs.

    Args:
        layer: The attention layer (built).
        input_shapes: Shapes of the call's inputs in `call` parameter
            order: `query`, `value`, then the optional key and masks.
        output_shapes: Shapes of the call's outputs. Defaults to `None`
            (the output features of the layer's output kernel).
        dims: Optional inner sizes replacing the layer's (see
            `attention_dims`). Defaults to `None`.

    Returns:
        A list of `(part, macs, other_ops)`, see `multi_head_attention_cost`.
    """
    if output_shapes:
        out_features = output_shapes[0][-1]
    else:
        out_features = _sublayer(layer, "output_dense").kernel.shape[-1]
    return _attention_parts(
        layer, input_shapes[0], input_shapes[1], out_features, dims
    )


def multi_head_attention_cost(layer, input_shapes, output_shapes, dims=None):
    """Multi-head attention: projections plus the two attention products.

    With query `(B, Tq, dq)`, value `(B, Tv, dv)`, key `(B, Tv, dk)`, `H`
    heads of `key_dim` `kd` and `value_dim` `vd`, and output `(B, Tq, do)`:
    `B·Tq·dq·H·kd` (query) + `B·Tv·dk·H·kd` (key) + `B·Tv·dv·H·vd` (value)
    + `B·H·Tq·Tv·kd` (`QKᵀ`) + `B·H·Tq·Tv·vd` (weights times values) +
    `B·Tq·H·vd·do` (output projection). Several index axes multiply out;
    `attention_axes` restrict the attended positions. A grouped-query
    layer projects keys and values to its key/value heads only. `dims`
    replaces inner sizes (`num_heads`, `key_dim`, ...; see
    `attention_dims`): the cost of the layer slimmed to those sizes.
    """
    parts = attention_parts(layer, input_shapes, output_shapes, dims)
    return sum(p[1] for p in parts), sum(p[2] for p in parts)


def dot_attention_cost(layer, input_shapes, output_shapes):
    """`Attention`/`AdditiveAttention` on `[query, value(, key)]`:
    `B·Tq·Tv·d` for the scores plus `B·Tq·Tv·dv` for the weighted sum."""
    query, value = input_shapes[0], input_shapes[1]
    scores = _prod(query[:-1]) * int(value[-2])
    macs = scores * int(query[-1]) + scores * int(value[-1])
    return macs, scores


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
