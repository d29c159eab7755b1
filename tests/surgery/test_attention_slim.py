"""Pruning multi-head attention: heads, head sizes and embeddings.

`slim` must compute what `apply_masks` computes, the rebuilt layer must be
an ordinary attention layer of the kept sizes, and the slimming cost
estimate must be what `tfc.profile` counts on the slim model.
"""

import keras
import numpy as np
import pytest
from keras import layers as L

import tf_compact as tfc
from tests.graph import checks
from tf_compact.pruning.latency_probes import probe_model


def _snapshot(model):
    return [np.array(v.numpy()) for v in model.weights]


def _assert_unchanged(model, snap):
    for before, var in zip(snap, model.weights):
        np.testing.assert_array_equal(var.numpy(), before)


def _stream(x, units, name):
    return L.Dense(units, name=name)(x)


def self_attention(use_bias=True, use_gate=False):
    """A residual self-attention block on a prunable stream of 8."""
    x = keras.Input((6, 5))
    h = _stream(x, 8, "embed")
    a = L.MultiHeadAttention(
        3, 4, value_dim=5, use_bias=use_bias, use_gate=use_gate, name="mha"
    )(h, h)
    h = L.Add(name="res")([h, a])
    h = L.GlobalAveragePooling1D(name="gap")(h)
    return keras.Model(x, L.Dense(3, name="head")(h))


def cross_attention():
    """Query, value and key from three streams, with an attention mask."""
    q = keras.Input((6, 5))
    v = keras.Input((4, 5))
    m = keras.Input((6, 4), dtype="bool")
    query = _stream(q, 8, "q_embed")
    value = _stream(v, 7, "v_embed")
    key = _stream(v, 6, "k_embed")
    a = L.MultiHeadAttention(2, 4, name="mha")(
        query, value, key=key, attention_mask=m
    )
    h = L.Add(name="res")([query, a])
    h = L.GlobalAveragePooling1D(name="gap")(h)
    return keras.Model([q, v, m], L.Dense(3, name="head")(h))


def projected_output():
    """`output_shape` given: the output features are a group of their
    own; the query features shrink apart from them."""
    x = keras.Input((6, 5))
    h = _stream(x, 8, "embed")
    a = L.MultiHeadAttention(2, 4, output_shape=7, name="mha")(h, h)
    h = L.GlobalAveragePooling1D(name="gap")(a)
    return keras.Model(x, L.Dense(3, name="head")(h))


def grouped_query(use_gate=False):
    x = keras.Input((6, 5))
    h = _stream(x, 8, "embed")
    a = L.GroupQueryAttention(4, 4, 2, use_gate=use_gate, name="mha")(h, h)
    h = L.Add(name="res")([h, a])
    h = L.GlobalAveragePooling1D(name="gap")(h)
    return keras.Model(x, L.Dense(3, name="head")(h))


def _inputs(model, n=3):
    rng = np.random.default_rng(0)
    out = []
    for t in model.inputs:
        shape = (n,) + tuple(t.shape[1:])
        if t.dtype == "bool":
            out.append(rng.random(shape) < 0.7)
        else:
            out.append(rng.normal(size=shape).astype("float32"))
    return out if len(out) > 1 else out[0]


def _check(model, masks):
    """slim == apply_masks, exact costs, config round trip, input kept."""
    snap = _snapshot(model)
    graph = tfc.ChannelGraph(model)
    small = tfc.slim(model, masks, graph=graph)
    reference = tfc.apply_masks(model, masks, graph=graph)
    x = _inputs(model)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(small(x, training=False)),
        keras.ops.convert_to_numpy(reference(x, training=False)),
        atol=1e-5,
    )
    dense = keras.ops.convert_to_numpy(model(x, training=False))
    pruned = keras.ops.convert_to_numpy(small(x, training=False))
    assert np.abs(dense - pruned).max() > 1e-4  # the masks changed it
    estimate = tfc.estimate_slim_cost(model, masks, graph=graph)
    assert estimate == checks.profiled_cost(small)
    layer = small.get_layer("mha")
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    _assert_unchanged(model, snap)
    return graph, small


def _keep(size, kept):
    mask = np.zeros(size, bool)
    mask[list(kept)] = True
    return mask


def test_groups_of_a_self_attention_block():
    graph = tfc.ChannelGraph(self_attention())
    sizes = {g.name: g.size for g in graph.groups}
    assert sizes == {
        "embed": 8,
        "mha.heads": 3,
        "mha.key_dim": 4,
        "mha.value_dim": 5,
    }
    heads = graph.group("mha.heads")
    bound = {(m.weight, m.axis, m.role) for m in heads.members}
    assert bound == {
        ("query/kernel", 1, "producer"),
        ("query/bias", 0, "producer"),
        ("key/kernel", 1, "producer"),
        ("key/bias", 0, "producer"),
        ("value/kernel", 1, "producer"),
        ("value/bias", 0, "producer"),
        ("attention_output/kernel", 0, "consumer"),
    }
    embed = {(m.layer, m.weight, m.axis) for m in graph.group("embed").members}
    assert {
        ("mha", "query/kernel", 0),
        ("mha", "key/kernel", 0),
        ("mha", "value/kernel", 0),
        ("mha", "attention_output/kernel", 2),
        ("mha", "attention_output/bias", 0),
    } <= embed


@pytest.mark.parametrize(
    "group, kept, sizes",
    [
        ("mha.heads", (0, 2), (2, 4, 5)),
        ("mha.key_dim", (1, 3), (3, 2, 5)),
        ("mha.value_dim", (0, 1, 4), (3, 4, 3)),
        ("embed", (0, 1, 2, 5, 7), (3, 4, 5)),
    ],
)
def test_one_kind_of_channel_pruned(group, kept, sizes):
    model = self_attention()
    size = tfc.ChannelGraph(model).group(group).size
    _, small = _check(model, {group: _keep(size, kept)})
    layer = small.get_layer("mha")
    assert (layer.num_heads, layer.key_dim, layer.value_dim) == sizes
    assert layer.query_dense.kernel.shape[0] == (5 if group == "embed" else 8)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("use_gate", [False, True], ids=["plain", "gate"])
def test_everything_pruned_at_once(use_bias, use_gate):
    model = self_attention(use_bias=use_bias, use_gate=use_gate)
    masks = {
        "embed": _keep(8, (1, 2, 4, 6)),
        "mha.heads": _keep(3, (1,)),
        "mha.key_dim": _keep(4, (0, 3)),
        "mha.value_dim": _keep(5, (2, 3)),
    }
    _, small = _check(model, masks)
    layer = small.get_layer("mha")
    assert (layer.num_heads, layer.key_dim, layer.value_dim) == (1, 2, 2)
    assert len(layer.weights) == len(model.get_layer("mha").weights)


def test_cross_attention_prunes_each_input_stream():
    model = cross_attention()
    graph = tfc.ChannelGraph(model)
    names = {g.name: g.size for g in graph.groups}
    assert names == {
        "q_embed": 8,
        "v_embed": 7,
        "k_embed": 6,
        "mha.heads": 2,
        "mha.key_dim": 4,
        "mha.value_dim": 4,
    }
    masks = {
        "q_embed": _keep(8, (0, 3, 5)),
        "v_embed": _keep(7, (1, 2)),
        "k_embed": _keep(6, (4,)),
        "mha.heads": _keep(2, (1,)),
    }
    _, small = _check(model, masks)
    layer = small.get_layer("mha")
    kernels = [layer.query_dense, layer.value_dense, layer.key_dense]
    assert [d.kernel.shape[0] for d in kernels] == [3, 2, 1]
    assert layer.output_dense.kernel.shape == (1, 4, 3)


def test_output_shape_is_its_own_group():
    model = projected_output()
    graph = tfc.ChannelGraph(model)
    assert graph.group("mha").size == 7
    masks = {"mha": _keep(7, (0, 6)), "embed": _keep(8, (2, 3, 4))}
    _, small = _check(model, masks)
    layer = small.get_layer("mha")
    assert layer.get_config()["output_shape"] == (2,)
    assert layer.query_dense.kernel.shape[0] == 3


def test_self_attention_output_follows_a_smaller_query():
    # Without `output_shape` the output has the query's features; a
    # separate output group that keeps another count is written out.
    x = keras.Input((6, 5))
    h = _stream(x, 8, "embed")
    a = L.MultiHeadAttention(2, 4, name="mha")(h, h)
    model = keras.Model(x, L.Dense(3, name="head")(a))
    graph = tfc.ChannelGraph(model)
    masks = {"embed": _keep(8, (0, 1, 2)), "mha": _keep(8, (0, 1, 2, 3))}
    _, small = _check(model, masks)
    assert small.get_layer("mha").get_config()["output_shape"] == (4,)
    assert graph.group("mha").size == 8


@pytest.mark.parametrize("use_gate", [False, True], ids=["plain", "gate"])
def test_grouped_query_attention_prunes_key_value_heads(use_gate):
    model = grouped_query(use_gate=use_gate)
    graph = tfc.ChannelGraph(model)
    assert {g.name: g.size for g in graph.groups} == {
        "embed": 8,
        "mha.heads": 2,
        "mha.head_dim": 4,
    }
    masks = {
        "mha.heads": _keep(2, (1,)),
        "mha.head_dim": _keep(4, (0, 2, 3)),
        "embed": _keep(8, (0, 2, 4, 6, 7)),
    }
    _, small = _check(model, masks)
    layer = small.get_layer("mha")
    assert (
        layer.num_query_heads,
        layer.num_key_value_heads,
        layer.head_dim,
    ) == (2, 1, 3)


def test_attention_scores_output_is_kept():
    x = keras.Input((6, 5))
    h = _stream(x, 8, "embed")
    a, scores = L.MultiHeadAttention(2, 4, name="mha")(
        h, h, return_attention_scores=True
    )
    h = L.GlobalAveragePooling1D(name="gap")(L.Add()([h, a]))
    model = keras.Model(x, [L.Dense(3, name="head")(h), scores])
    masks = {"mha.heads": _keep(2, (0,)), "embed": _keep(8, (1, 5))}
    graph = tfc.ChannelGraph(model)
    small = tfc.slim(model, masks, graph=graph)
    reference = tfc.apply_masks(model, masks, graph=graph)
    xs = _inputs(model)
    out, ref = small(xs, training=False), reference(xs, training=False)
    np.testing.assert_allclose(out[0], ref[0], atol=1e-5)
    assert tuple(out[1].shape) == (3, 1, 6, 6)


def test_pruned_attention_costs_follow_its_new_sizes():
    # Self-attention over T tokens of d features: projections T·d·H·kd
    # (query, key), T·d·H·vd (value), T·H·vd·d (output), T·T·H·kd (QKᵀ)
    # and T·T·H·vd (weights times values).
    def macs(t, d, heads, kd, vd):
        return (
            2 * t * d * heads * kd
            + t * d * heads * vd
            + t * heads * vd * d
            + t * t * heads * kd
            + t * t * heads * vd
        )

    model = self_attention()
    assert tfc.profile(model).layer("mha").macs == macs(6, 8, 3, 4, 5)
    masks = {
        "embed": _keep(8, (0, 1, 2, 3, 4, 5)),
        "mha.heads": _keep(3, (0, 1)),
        "mha.key_dim": _keep(4, (0, 1, 2)),
        "mha.value_dim": _keep(5, (0,)),
    }
    _, small = _check(model, masks)
    assert tfc.profile(small).layer("mha").macs == macs(6, 6, 2, 3, 1)


def test_prune_to_half_the_macs_reaches_the_heads():
    keras.utils.set_random_seed(0)
    x = keras.Input((16, 12))
    h = L.Dense(16, name="embed")(x)
    for i in range(2):
        n = L.LayerNormalization(name=f"ln{i}")(h)
        a = L.MultiHeadAttention(4, 8, name=f"mha{i}")(n, n)
        h = L.Add(name=f"res{i}")([h, a])
    h = L.GlobalAveragePooling1D(name="gap")(h)
    model = keras.Model(x, L.Dense(3, name="head")(h))
    snap = _snapshot(model)
    small = tfc.prune(model, target_macs=0.5)
    base = tfc.profile(model).macs
    assert tfc.profile(small).macs <= 0.5 * base
    heads = [small.get_layer(f"mha{i}").num_heads for i in range(2)]
    key_dims = [small.get_layer(f"mha{i}").key_dim for i in range(2)]
    assert sum(heads) < 8 or sum(key_dims) < 16
    _assert_unchanged(model, snap)


def test_latency_probes_cut_heads_and_head_sizes():
    model = self_attention()
    graph = tfc.ChannelGraph(model)
    heads = probe_model(graph, "mha.heads", 1).get_layer("mha")
    assert (heads.num_heads, heads.key_dim, heads.value_dim) == (1, 4, 5)
    sizes = probe_model(graph, "mha.key_dim", 2).get_layer("mha")
    assert (sizes.num_heads, sizes.key_dim, sizes.value_dim) == (3, 2, 5)
