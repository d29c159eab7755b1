"""Structure of the channel graph: groups, members, refs, registry."""

import keras
import numpy as np
import pytest
from keras import layers as L

import tf_compact as tfc
from tests.graph import checks
from tests.graph import zoo as models


def test_residual_add_couples_both_producers():
    graph = tfc.ChannelGraph(models.residual())
    first = graph.groups[0]
    assert first.layers("producer") == ["conv2d", "conv2d_1", "conv2d_2"]
    assert first.size == 6


def test_concat_members_map_to_offsets():
    graph = tfc.ChannelGraph(models.concat())
    a, b = graph.group("conv2d"), graph.group("conv2d_1")
    (ma,) = [m for m in a.members if m.layer == "conv2d_2"]
    (mb,) = [m for m in b.members if m.layer == "conv2d_2"]
    assert ma.positions.tolist() == [0, 1, 2, 3, 9, 10, 11, 12]
    assert ma.channels.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert mb.positions.tolist() == [4, 5, 6, 7, 8]


def test_flatten_gives_each_channel_its_dense_rows():
    graph = tfc.ChannelGraph(models.flatten_dense())
    group = graph.group("conv2d")
    (rows,) = [m for m in group.members if m.layer == "dense"]
    assert len(rows.positions) == 3 * 3 * 4
    assert rows.positions[rows.channels == 1].tolist() == list(range(1, 36, 4))


def test_depthwise_multiplier_maps_outputs_to_inputs():
    graph = tfc.ChannelGraph(models.depthwise())
    (bias,) = [
        m
        for m in graph.group("conv2d").members
        if m.layer == "depthwise_conv2d" and m.weight == "bias"
    ]
    assert bias.channels.tolist() == np.repeat(np.arange(6), 2).tolist()


def test_inputs_and_outputs_are_never_pruned():
    x = keras.Input((5,))
    y = L.Dense(4)(x)
    model = keras.Model(x, [y, L.Dense(3)(y)])
    assert tfc.ChannelGraph(model).groups == []


def test_names_are_stable_across_builds():
    a = [(g.name, g.size) for g in tfc.ChannelGraph(models.se_block()).groups]
    keras.backend.clear_session()
    b = [(g.name, g.size) for g in tfc.ChannelGraph(models.se_block()).groups]
    assert a == b and len(a) == 3


def test_summary_lists_every_group():
    graph = tfc.ChannelGraph(models.concat())
    text = graph.summary()
    for g in graph.groups:
        assert g.name in text
    assert f"{len(graph.groups)} groups" in text


def test_weight_refs_norms_match_numpy():
    model = models.conv_chain()
    graph = tfc.ChannelGraph(model)
    group = graph.groups[0]
    refs = graph.weight_refs(group)
    assert {r.role for r in refs} == {"producer", "norm"}
    total = sum(np.asarray(r.channel_sq_norms()) for r in refs)
    expected = np.zeros(group.size)
    for r in refs:
        w = np.take(r.variable.numpy(), r.channel_index.ravel(), r.axis)
        w = np.moveaxis(w, r.axis, 0).reshape(group.size, -1)
        expected += (w**2).sum(axis=1)
    np.testing.assert_allclose(total, expected, rtol=1e-5)
    assert refs[0].variable is model.get_layer("conv2d").kernel


def test_group_config_round_trip():
    group = tfc.ChannelGraph(models.concat()).groups[0]
    again = tfc.ChannelGroup.from_config(group.get_config())
    assert again.get_config() == group.get_config()


def test_graph_config_round_trip():
    graph = tfc.ChannelGraph(models.se_block())
    again = tfc.ChannelGraph.from_config(graph.get_config())
    assert [g.get_config() for g in again.groups] == [
        g.get_config() for g in graph.groups
    ]


class Doubler(L.Layer):
    def call(self, x):
        return 2.0 * x


class ChannelScale(L.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, shape):
        self.scale = self.add_weight(
            shape=(self.units,), initializer="random_normal", name="scale"
        )

    def call(self, x):
        return x * self.scale

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class ScaleHandler(tfc.graph.LayerHandler):
    def propagate(self, ctx):
        ctx.bind("scale", -1, ctx.inputs[0], "norm")
        return [ctx.inputs[0]]

    def slim_config(self, layer, config, in_keep, out_keep):
        return {**config, "units": int(in_keep[0].sum())}


def _custom_model():
    x = keras.Input((6, 6, 3))
    y = L.Conv2D(6, 1)(x)
    y = Doubler()(y)
    y = ChannelScale(6)(y)
    return keras.Model(x, L.Conv2D(2, 1)(y))


def test_register_handler_for_custom_layers():
    tfc.register_handler(Doubler, "passthrough")
    tfc.register_handler(ChannelScale, ScaleHandler)
    model = _custom_model()
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3))
    graph, _, small = checks.slim_and_check(model, x.astype("float32"))
    assert graph.groups[0].layers("norm") == ["channel_scale"]
    assert small.get_layer("channel_scale").units < 6


def test_fixed_handler_keeps_channels():
    tfc.register_handler(Doubler, "fixed")
    try:
        x = keras.Input((4,))
        y = L.Dense(5)(x)
        model = keras.Model(x, L.Dense(2)(Doubler()(y)))
        assert tfc.ChannelGraph(model).groups == []
    finally:
        tfc.register_handler(Doubler, "passthrough")


def test_handler_config_round_trip():
    handler = tfc.graph.PassThroughHandler(per_channel=("alpha",))
    again = type(handler).from_config(handler.get_config())
    assert again.per_channel == ("alpha",)


@pytest.mark.parametrize("bad", [int, "sometimes", 3])
def test_register_handler_rejects_bad_arguments(bad):
    with pytest.raises(TypeError, match="Invalid value"):
        if bad is int:
            tfc.register_handler(int, "passthrough")
        else:
            tfc.register_handler(Doubler, bad)
