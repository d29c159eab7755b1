"""Handlers for multi-head attention: heads, head sizes and embeddings.

A `MultiHeadAttention` holds four `EinsumDense` projections: query, key
and value kernels of shape `(features, heads, size)` (biases
`(heads, size)`), and an output kernel `(heads, value_size, *out)`. Its
prunable channels are of three kinds:

- inner sizes, which no tensor outside the layer shows: whole *heads*
  (one entry of the heads axis of all four kernels), *key_dim* units
  (the same unit of every head of the query and key kernels, which the
  scores sum over) and *value_dim* units (the value kernel and the
  output kernel's rows). Each is a channel group of its own, named
  `"<layer>.heads"`, `"<layer>.key_dim"`, `"<layer>.value_dim"`;
- the features of `query`, `value` and `key` (rows of the projection
  kernels, consumers of the residual stream that feeds them);
- the output features (columns of the output kernel and its bias).

Rebuilding takes the kept counts as `num_heads`, `key_dim`, `value_dim`
(and `output_shape` where the output no longer matches the query). The
scores are scaled by `1 / sqrt(key_dim)`: when key units are removed, the
kept query weights are rescaled so the smaller layer computes what the
original computes with those units zeroed.
"""

import math

import numpy as np

from tf_compact.graph.handler import LayerHandler
from tf_compact.graph.handler import weight_keys
from tf_compact.graph.handlers_shape import fix_all

_INPUTS = ("query", "value", "key")


def _sublayer(layer, name):
    found = getattr(layer, "_" + name, None)
    return found if found is not None else getattr(layer, name, None)


def _key_of(layer, var):
    for v, key in zip(layer.weights, weight_keys(layer)):
        if v is var:
            return key
    return None


def _wiring(ctx, gate_attribute):
    """The layer's projections and its query/value/key input spaces.

    `None` when either cannot be read (the layer is then kept whole).
    """
    names = ("query", "key", "value", "output")
    if getattr(ctx.layer, gate_attribute, False):
        names += ("gate",)
    parts = _projections(ctx.layer, names)
    spaces = _inputs(ctx)
    if parts is None or spaces is None:
        return None
    return parts, spaces


def _projections(layer, names):
    """`{name: (kernel key, bias key or None)}` of the EinsumDense parts,
    or `None` when a part is missing or carries extra weights (LoRA,
    quantized kernels): such a layer is kept whole."""
    found = {}
    expected = 0
    for name in names:
        sub = _sublayer(layer, name + "_dense")
        if sub is None:
            return None
        kernel = getattr(sub, "kernel", None)
        bias = getattr(sub, "bias", None)
        if kernel is None or getattr(sub, "lora_enabled", False):
            return None
        found[name] = (_key_of(layer, kernel), _key_of(layer, bias))
        expected += 1 + (bias is not None)
    if len(layer.weights) != expected or None in (k for k, _ in found.values()):
        return None
    return found


def _inputs(ctx):
    """`(query, value, key)` spaces of the call, or `None` if unknown.

    Other tensor inputs (attention masks) are read whole: fixed.
    """
    named = {}
    for name, space in zip(ctx.input_names, ctx.inputs):
        if name in _INPUTS:
            named[name] = space
        else:
            ctx.fix(space)
    if "query" not in named or "value" not in named:
        return None
    return named["query"], named["value"], named.get("key", named["value"])


def _bind_projections(ctx, parts, inputs, heads, dims):
    """Binds the query, key, value (and gate) projections: `inputs` are the
    query, key and value input spaces, `heads` the query and key/value
    head spaces, `dims` the key and value unit spaces."""
    query, key, value = inputs
    q_heads, kv_heads = heads
    key_dim, value_dim = dims
    _bind_projection(ctx, parts["query"], query, q_heads, key_dim)
    _bind_projection(ctx, parts["key"], key, kv_heads, key_dim)
    _bind_projection(ctx, parts["value"], value, kv_heads, value_dim)
    if "gate" in parts:
        _bind_projection(ctx, parts["gate"], query, q_heads, value_dim)


def _bind_projection(ctx, keys, features, heads, size):
    kernel, bias = keys
    ctx.bind(kernel, 0, features, "consumer")
    ctx.bind(kernel, 1, heads, "producer")
    ctx.bind(kernel, 2, size, "producer")
    if bias is not None:
        ctx.bind(bias, 0, heads, "producer")
        ctx.bind(bias, 1, size, "producer")


def _scale_query(layer, values, old_size, new_size):
    """Rescales the kept query projection for a smaller score scale.

    Scores are `q·k / sqrt(size)`: with `size` units of which `new_size`
    are kept, `q' = q · sqrt(new_size / size)` gives the same scores.
    """
    if new_size == old_size:
        return values
    factor = math.sqrt(new_size / old_size)
    dense = _sublayer(layer, "query_dense")
    out = dict(values)
    for var in (dense.kernel, getattr(dense, "bias", None)):
        if var is not None:
            key = _key_of(layer, var)
            out[key] = values[key] * np.asarray(factor, values[key].dtype)
    return out


class MultiHeadAttentionHandler(LayerHandler):
    """`keras.layers.MultiHeadAttention`: heads, key and value units, and
    the query/key/value and output features are prunable.

    The heads, `key_dim` and `value_dim` units are groups of their own
    (`"<layer>.heads"`, ...); the input features join the groups of the
    tensors passed as `query`, `value` and `key`, so an embedding shrinks
    with the residual stream that feeds it; the output features are a new
    group (joined to the stream by the residual `Add`). Attention masks
    are read whole. A layer whose projections carry other weights (LoRA,
    quantized kernels), or an `output_shape` of more than one axis for its
    output features, keeps those channels fixed.
    """

    def propagate(self, ctx):
        layer = ctx.layer
        found = _wiring(ctx, "_use_gate")
        if found is None:
            return fix_all(ctx)
        parts, (query, value, key) = found
        heads = ctx.new_space(layer.num_heads, "heads")
        key_dim = ctx.new_space(layer.key_dim, "key_dim")
        value_dim = ctx.new_space(layer.value_dim, "value_dim")
        _bind_projections(
            ctx,
            parts,
            (query, key, value),
            (heads, heads),
            (key_dim, value_dim),
        )
        kernel, bias = parts["output"]
        ctx.bind(kernel, 0, heads, "consumer")
        ctx.bind(kernel, 1, value_dim, "consumer")
        shape = layer._output_shape
        if shape is None or len(shape) == 1:
            out = ctx.new_space(ctx.output_shapes[0][-1])
            ctx.bind(kernel, -1, out, "producer")
            if bias is not None:
                ctx.bind(bias, -1, out, "producer")
        else:
            out = ctx.fixed_space(ctx.output_shapes[0][-1])
        ctx.set_dims(
            num_heads=heads,
            key_value_heads=heads,
            key_dim=key_dim,
            value_dim=value_dim,
            key_channels=key,
        )
        extra = [ctx.fixed_space(s[-1]) for s in ctx.output_shapes[1:]]
        return [out] + extra

    def slim_config(self, layer, config, in_keep, out_keep):
        out = int(out_keep[0].sum())
        shape = config.get("output_shape")
        if shape is None:
            query = int(in_keep[0].sum())
            if out != query:
                config["output_shape"] = (out,)
        elif isinstance(shape, int) or len(shape) == 1:
            config["output_shape"] = (out,)
        return config

    def slim_dims(self, layer, config, dims):
        return {
            **config,
            "num_heads": int(dims["num_heads"].sum()),
            "key_dim": int(dims["key_dim"].sum()),
            "value_dim": int(dims["value_dim"].sum()),
        }

    def slim_weights(self, layer, new_layer, values):
        return _scale_query(layer, values, layer.key_dim, new_layer.key_dim)


class GroupQueryAttentionHandler(LayerHandler):
    """`keras.layers.GroupQueryAttention`: key/value heads (each with the
    query heads that share it), `head_dim` units and input features.

    Query head `i` reads key/value head `i // r` (`r` query heads per
    key/value head): removing key/value head `j` removes query heads
    `j·r ... j·r + r - 1` with it, so the group `"<layer>.heads"` counts
    key/value heads. `head_dim` units (`"<layer>.head_dim"`) are shared by
    the query, key, value and output kernels. The layer's output has the
    query's features, so output and query features are one group.
    """

    def propagate(self, ctx):
        layer = ctx.layer
        found = _wiring(ctx, "use_gate")
        if found is None:
            return fix_all(ctx)
        parts, (query, value, key) = found
        repeats = layer.num_query_heads // layer.num_key_value_heads
        kv_heads = ctx.new_space(layer.num_key_value_heads, "heads")
        q_heads = np.repeat(kv_heads, repeats)
        head_dim = ctx.new_space(layer.head_dim, "head_dim")
        _bind_projections(
            ctx,
            parts,
            (query, key, value),
            (q_heads, kv_heads),
            (head_dim,) * 2,
        )
        kernel, bias = parts["output"]
        ctx.bind(kernel, 0, q_heads, "consumer")
        ctx.bind(kernel, 1, head_dim, "consumer")
        ctx.bind(kernel, 2, query, "producer")
        if bias is not None:
            ctx.bind(bias, 0, query, "producer")
        ctx.set_dims(
            num_heads=q_heads,
            key_value_heads=kv_heads,
            key_dim=head_dim,
            value_dim=head_dim,
            key_channels=key,
        )
        extra = [ctx.fixed_space(s[-1]) for s in ctx.output_shapes[1:]]
        return [query] + extra

    def slim_dims(self, layer, config, dims):
        kv = int(dims["key_value_heads"].sum())
        repeats = layer.num_query_heads // layer.num_key_value_heads
        return {
            **config,
            "num_key_value_heads": kv,
            "num_query_heads": kv * repeats,
            "head_dim": int(dims["key_dim"].sum()),
        }

    def slim_weights(self, layer, new_layer, values):
        return _scale_query(layer, values, layer.head_dim, new_layer.head_dim)
