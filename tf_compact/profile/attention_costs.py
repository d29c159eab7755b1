"""Cost functions of EinsumDense and the attention layers.

They follow the `register_macs` contract (see `layer_costs`); attention is
counted part by part (projections, scores, weighted sum, output) so that
callers can price a narrower copy of a layer through `dims`.
"""

import math


def _prod(values):
    return math.prod(int(v) for v in values)


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
