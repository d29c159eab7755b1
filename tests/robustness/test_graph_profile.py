"""Graph, profile and surgery on real model families.

Attention counted in MACs (profile and the slimming cost alike), layers
whose cost cannot be counted listed and warned about once, augmentation
and preprocessing layers handled by the channel graph, LoRA layers masked
and slimmed, and errors that say something true.
"""

import math
import warnings

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.robustness.helpers import assert_unchanged
from tests.robustness.helpers import snapshot

L = keras.layers


def _mha_macs(b, tq, tv, dq, dv, dk, heads, kd, vd, dout):
    """Hand count: projections, QKᵀ, weights times values, output."""
    return (
        b * tq * dq * heads * kd
        + b * tv * dk * heads * kd
        + b * tv * dv * heads * vd
        + b * heads * tq * tv * kd
        + b * heads * tq * tv * vd
        + b * tq * heads * vd * dout
    )


def _profile_quietly(model, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prof = tfc.profile(model, **kwargs)
    return prof, [str(w.message) for w in caught]


def _self_attention():
    x = keras.Input((16, 32))
    return keras.Model(x, L.MultiHeadAttention(2, 16, name="mha")(x, x))


def _cross_attention_keywords():
    q = keras.Input((8, 12))
    v = keras.Input((10, 20))
    k = keras.Input((10, 6))
    m = keras.Input((8, 10), dtype="bool")
    mha = L.MultiHeadAttention(3, 4, value_dim=5, output_shape=7, name="mha")
    out = mha(query=q, value=v, key=k, attention_mask=m)
    return keras.Model([q, v, k, m], out)


def _self_attention_with_mask():
    q = keras.Input((8, 12))
    v = keras.Input((10, 12))
    m = keras.Input((8, 10), dtype="bool")
    out = L.MultiHeadAttention(2, 6, name="mha")(q, v, attention_mask=m)
    return keras.Model([q, v, m], out)


def _grouped_query_attention():
    q = keras.Input((8, 12))
    v = keras.Input((10, 12))
    gqa = L.GroupQueryAttention(4, 4, 2, name="mha")
    return keras.Model([q, v], gqa(q, v))


def _dot_attention():
    q = keras.Input((8, 12))
    v = keras.Input((10, 12))
    return keras.Model([q, v], L.Attention(name="mha")([q, v]))


ATTENTION_CASES = {
    # batch 1, seq 16, dim 32, 2 heads, key_dim 16.
    "self": (_self_attention, _mha_macs(1, 16, 16, 32, 32, 32, 2, 16, 16, 32)),
    "cross_keywords": (
        _cross_attention_keywords,
        _mha_macs(1, 8, 10, 12, 20, 6, 3, 4, 5, 7),
    ),
    "mask_keyword": (
        _self_attention_with_mask,
        _mha_macs(1, 8, 10, 12, 12, 12, 2, 6, 6, 12),
    ),
    # 4 query heads of 4, 2 key/value heads: projections, QKᵀ, AV, output.
    "grouped_query": (
        _grouped_query_attention,
        8 * 12 * 4 * 4
        + 2 * (10 * 12 * 2 * 4)
        + 2 * (4 * 8 * 10 * 4)
        + 8 * 4 * 4 * 12,
    ),
    "dot_product": (_dot_attention, 8 * 10 * 12 + 8 * 10 * 12),
}


@pytest.mark.parametrize("case", sorted(ATTENTION_CASES))
def test_attention_macs_match_a_hand_count(case):
    build, expected = ATTENTION_CASES[case]
    model = build()
    prof, messages = _profile_quietly(model)
    assert prof.layer("mha").macs == expected
    assert prof.macs == expected
    assert prof.unknown_layers == []
    assert messages == []


def _cct(num_classes=3):
    """A compact convolutional transformer: conv tokenizer, one encoder."""
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(16, 3, padding="same", activation="relu", name="tok")(x)
    h = L.MaxPooling2D(2, name="pool")(h)
    tokens = L.Reshape((16, 16), name="tokens")(h)
    a = L.LayerNormalization(name="ln1")(tokens)
    a = L.MultiHeadAttention(2, 8, name="mha")(a, a)
    h = L.Add(name="res1")([tokens, a])
    f = L.LayerNormalization(name="ln2")(h)
    f = L.Dense(24, activation="gelu", name="mlp1")(f)
    f = L.Dense(16, name="mlp2")(f)
    h = L.Add(name="res2")([h, f])
    h = L.GlobalAveragePooling1D(name="gap")(h)
    return keras.Model(x, L.Dense(num_classes, name="head")(h))


CCT_MACS = (
    8 * 8 * 16 * 9 * 3  # tokenizer
    + _mha_macs(1, 16, 16, 16, 16, 16, 2, 8, 8, 16)
    + 16 * 16 * 24  # mlp1
    + 16 * 24 * 16  # mlp2
    + 16 * 3  # head
)


class FixedAttention(L.MultiHeadAttention):
    """A MultiHeadAttention registered 'fixed' by the test below."""


def _cct_with_fixed_attention():
    tfc.register_handler(FixedAttention, "fixed")
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(16, 3, padding="same", name="tok")(x)
    tokens = L.Reshape((64, 16), name="tokens")(h)
    a = FixedAttention(2, 8, name="mha")(tokens, tokens)
    h = L.Dense(12, activation="relu", name="mlp")(a)
    h = L.GlobalAveragePooling1D(name="gap")(h)
    return keras.Model(x, L.Dense(3, name="head")(h))


def test_cct_profile_counts_attention():
    model = _cct()
    prof, messages = _profile_quietly(model)
    assert prof.layer("mha").macs > 0
    assert prof.macs == CCT_MACS
    assert messages == []


def test_slim_cost_counts_attention_like_profile():
    model = _cct_with_fixed_attention()
    before = snapshot(model)
    graph = tfc.ChannelGraph(model)
    macs, params = tfc.estimate_slim_cost(model, graph=graph)
    assert (macs, params) == (tfc.profile(model).macs, model.count_params())
    attention = _mha_macs(1, 64, 64, 16, 16, 16, 2, 8, 8, 16)
    assert tfc.profile(model).layer("mha").macs == attention
    masks = {g.name: np.arange(g.size) % 2 == 0 for g in graph.groups}
    small = tfc.slim(model, masks, graph=graph)
    estimate = tfc.estimate_slim_cost(model, masks, graph=graph)
    assert estimate == (tfc.profile(small).macs, small.count_params())
    assert tfc.profile(small).layer("mha").macs == attention
    # A MACs budget is a fraction of the total, attention included: the
    # fixed part (tokenizer and attention) costs 224256 MACs, each `mlp`
    # unit 64 * 16 + 3, so 97% of the total keeps 5 of the 12 units.
    assert macs == 224256 + 12 * (64 * 16 + 3)
    pruned = tfc.prune(model, target_macs=0.97)
    assert pruned.get_layer("mlp").units == 5
    assert tfc.profile(pruned).macs <= 0.97 * macs
    assert_unchanged(model, before)


class Opaque(L.Layer):
    def call(self, x):
        return 2.0 * x


def test_uncountable_layers_are_listed_and_warned_once():
    x = keras.Input((None, None, 3))
    h = L.Conv2D(4, 3, name="conv")(x)
    h = Opaque(name="opaque")(h)
    model = keras.Model(x, h)
    prof, messages = _profile_quietly(model)
    assert prof.unknown_layers == ["conv", "opaque"]
    named = [m for m in messages if "'conv' (Conv2D)" in m]
    assert len(named) == 1
    assert "'opaque' (Opaque)" in named[0]
    assert "not fully known" in named[0]
    assert "Counted as 0 MACs" in prof.table()


def _keras_io_classifier(num_classes=2):
    """image_classification_from_scratch, shrunk: augmentation nested."""
    augmentation = keras.Sequential(
        [L.RandomFlip("horizontal"), L.RandomRotation(0.1)],
        name="data_augmentation",
    )
    x = keras.Input((16, 16, 3))
    h = augmentation(x)
    h = L.Rescaling(1.0 / 255, name="rescale")(h)
    h = L.Conv2D(8, 3, strides=2, padding="same", name="c1")(h)
    h = L.BatchNormalization(name="bn1")(h)
    h = L.Activation("relu", name="r1")(h)
    previous = h
    h = L.SeparableConv2D(8, 3, padding="same", name="s1")(h)
    h = L.BatchNormalization(name="bn2")(h)
    h = L.Activation("relu", name="r2")(h)
    h = L.MaxPooling2D(3, strides=2, padding="same", name="mp")(h)
    residual = L.Conv2D(8, 1, strides=2, padding="same", name="res")(
        previous
    )
    h = L.add([h, residual], name="add")
    h = L.GlobalAveragePooling2D(name="gap")(h)
    h = L.Dropout(0.25, name="drop")(h)
    return keras.Model(x, L.Dense(num_classes, name="head")(h))


KERAS_IO_MACS = (
    8 * 8 * 8 * 9 * 3  # c1: 8x8 output, 8 filters, 3x3x3 kernel
    + 8 * 8 * 8 * 9  # s1 depthwise
    + 8 * 8 * 8 * 8  # s1 pointwise
    + 4 * 4 * 8 * 8  # res: 4x4 output, 1x1x8 kernel
    + 8 * 2  # head
)


def _check_slim_matches_masks(model, x):
    graph = tfc.ChannelGraph(model)
    masks = {g.name: np.arange(g.size) % 2 == 0 for g in graph.groups}
    reference = tfc.apply_masks(model, masks, graph=graph)
    small = tfc.slim(model, masks, graph=graph)
    np.testing.assert_allclose(
        small(x, training=False),
        reference(x, training=False),
        atol=1e-5,
    )
    return graph, small


def test_keras_io_classifier_with_augmentation():
    model = _keras_io_classifier()
    before = snapshot(model)
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3))
    x = x.astype("float32")
    graph, small = _check_slim_matches_masks(model, x)
    assert graph.groups
    prof, messages = _profile_quietly(model)
    assert prof.macs == KERAS_IO_MACS
    assert prof.unknown_layers == [] and messages == []
    pruned = tfc.prune(model, ratio=0.5)
    assert pruned(x, training=False).shape == (4, 2)
    assert tfc.profile(pruned).macs < KERAS_IO_MACS
    assert_unchanged(model, before)


PREPROCESSING = {
    "RandomFlip": lambda: L.RandomFlip(),
    "RandomRotation": lambda: L.RandomRotation(0.2),
    "RandomCrop": lambda: L.RandomCrop(12, 12),
    "RandomZoom": lambda: L.RandomZoom(0.2),
    "RandomTranslation": lambda: L.RandomTranslation(0.1, 0.1),
    "RandomContrast": lambda: L.RandomContrast(0.3),
    "RandomBrightness": lambda: L.RandomBrightness(0.2),
    "Resizing": lambda: L.Resizing(12, 10),
    "CenterCrop": lambda: L.CenterCrop(10, 10),
    "Rescaling": lambda: L.Rescaling(0.5, offset=1.0),
    "Normalization": lambda: L.Normalization(
        mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0]
    ),
    "NormalizationScalar": lambda: L.Normalization(
        axis=None, mean=0.5, variance=2.0
    ),
    "RandomGrayscale": lambda: L.RandomGrayscale(0.5),
    "RandomHue": lambda: L.RandomHue(0.2, value_range=(0, 1)),
    "RandomSaturation": lambda: L.RandomSaturation(0.2, value_range=(0, 1)),
    "RandomColorJitter": lambda: L.RandomColorJitter(
        value_range=(0, 1), brightness_factor=0.2
    ),
    "RandomSharpness": lambda: L.RandomSharpness(0.2, value_range=(0, 1)),
}
for _name in ("RandomHeight", "RandomWidth"):
    if hasattr(L, _name):
        PREPROCESSING[_name] = lambda n=_name: getattr(L, n)(0.2)


def _preprocessed_model(make_layer, where):
    x = keras.Input((16, 16, 3))
    if where == "input":
        h = make_layer()(x)
        h = L.Conv2D(6, 3, padding="same", name="c1")(h)
    else:
        h = L.Conv2D(3, 3, padding="same", name="c1")(x)
        h = make_layer()(h)
    h = L.Conv2D(6, 3, padding="same", name="c2")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    return keras.Model(x, L.Dense(2, name="head")(h))


@pytest.mark.parametrize("name", sorted(PREPROCESSING))
def test_preprocessing_layers_need_no_registration(name):
    model = _preprocessed_model(PREPROCESSING[name], "input")
    before = snapshot(model)
    x = np.random.default_rng(1).uniform(0, 1, (2, 16, 16, 3))
    graph, small = _check_slim_matches_masks(model, x.astype("float32"))
    assert {g.name for g in graph.groups} == {"c1", "c2"}
    prof, messages = _profile_quietly(model)
    assert prof.unknown_layers == [] and messages == []
    spatial = math.prod(model.get_layer("c1").output.shape[1:3])
    assert prof.layer("c1").macs == spatial * 6 * 9 * 3
    pruned = tfc.prune(model, ratio=0.5)
    assert pruned(x, training=False).shape == (2, 2)
    assert tfc.profile(pruned).macs < prof.macs
    assert_unchanged(model, before)


# Layers that mix (or normalize with stored statistics) the channels.
MIXING = {
    "Normalization",
    "RandomColorJitter",
    "RandomGrayscale",
    "RandomHue",
    "RandomSaturation",
}


@pytest.mark.parametrize("name", sorted(PREPROCESSING))
def test_preprocessing_after_a_conv(name):
    """Per-channel layers pass channels on; channel mixers keep them."""
    model = _preprocessed_model(PREPROCESSING[name], "after_conv")
    x = np.random.default_rng(2).uniform(0, 1, (2, 16, 16, 3))
    graph, _ = _check_slim_matches_masks(model, x.astype("float32"))
    names = {g.name for g in graph.groups}
    assert ("c1" in names) == (name not in MIXING)


def _lora_model(kind):
    x = keras.Input((6, 6, 3))
    if kind == "dense":
        h = L.Flatten(name="flat")(x)
        layer = L.Dense(8, name="lora")
    else:
        h = x
        layer = L.Conv2D(8, 3, name="lora")
    h = layer(h)
    h = L.Activation("relu", name="act")(h)
    if kind != "dense":
        h = L.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(x, L.Dense(2, name="head")(h))
    layer.enable_lora(2, lora_alpha=6)
    rng = np.random.default_rng(3)
    for var in (layer.lora_kernel_a, layer.lora_kernel_b):
        var.assign(rng.normal(size=var.shape).astype("float32"))
    return model


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_lora_layers_are_masked_and_slimmed(kind):
    model = _lora_model(kind)
    before = snapshot(model)
    x = np.random.default_rng(4).normal(size=(3, 6, 6, 3)).astype("float32")
    graph = tfc.ChannelGraph(model)
    keep = np.arange(8) % 3 != 1
    masks = {"lora": keep}
    reference = tfc.apply_masks(model, masks, graph=graph)
    inner = keras.Model(reference.inputs, reference.get_layer("lora").output)
    out = np.asarray(inner(x, training=False))
    np.testing.assert_array_equal(out[..., ~keep], 0.0)
    assert np.abs(out[..., keep]).min() > 0
    small = tfc.slim(model, masks, graph=graph)
    np.testing.assert_allclose(
        small(x, training=False), reference(x, training=False), atol=1e-5
    )
    assert small.get_layer("lora").lora_kernel_b.shape == (2, keep.sum())
    # The LoRA scale survives the rebuild: keeping everything is exact.
    full = tfc.slim(model, {"lora": np.ones(8, bool)}, graph=graph)
    np.testing.assert_allclose(
        full(x, training=False), model(x, training=False), atol=1e-5
    )
    assert_unchanged(model, before)


def _named_sequential():
    return keras.Sequential(
        [keras.Input((4,)), L.Dense(3), L.Dense(2)], name="sequential"
    )


def test_graph_of_a_same_named_model_is_refused_truthfully():
    graph = tfc.ChannelGraph(_named_sequential())
    other = _named_sequential()
    with pytest.raises(
        ValueError,
        match="another model object with the same name",
    ):
        tfc.slim(other, {}, graph=graph)
    renamed = keras.Sequential([keras.Input((4,)), L.Dense(3)], name="b")
    with pytest.raises(ValueError, match="built for model 'sequential'"):
        tfc.apply_masks(renamed, {}, graph=graph)


class Widen(L.Layer):
    def call(self, x):
        return keras.ops.concatenate([x, x], axis=-1)


class Scale(L.Layer):
    def call(self, x):
        return 3.0 * x


class CrossMix(L.Layer):
    """Mixes two sequences; a layer the graph does not know."""

    def call(self, x, y):
        return x + keras.ops.mean(y, axis=1, keepdims=True)


def _mix_model():
    x = keras.Input((4, 8))
    return keras.Model(x, CrossMix(name="mix")(x, x))


def _widen_model():
    x = keras.Input((4, 8))
    return keras.Model(x, Widen(name="widen")(L.Dense(8)(x)))


def _scale_model():
    x = keras.Input((4, 8))
    return keras.Model(x, Scale(name="scale")(L.Dense(8)(x)))


def _recurrent_model():
    # 16 channels in, 16 out: the counts alone would suggest 'passthrough'.
    x = keras.Input((4, 16))
    return keras.Model(x, L.Bidirectional(L.LSTM(8), name="bi")(x))


@pytest.mark.parametrize(
    "build, cls, passthrough, reason",
    [
        (_mix_model, "CrossMix", False, "takes 2 input tensors"),
        (_widen_model, "Widen", False, "16 channels for 8 input channels"),
        (_scale_model, "Scale", True, None),
        (_recurrent_model, "Bidirectional", False, "mixes its input"),
    ],
)
def test_unknown_layer_error_suggests_a_fitting_handler(
    build, cls, passthrough, reason
):
    with pytest.raises(tfc.UnsupportedLayerError) as info:
        tfc.ChannelGraph(build())
    message = str(info.value)
    assert f"register_handler({cls}, 'fixed')" in message
    suggested = f"register_handler({cls}, 'passthrough')" in message
    assert suggested == passthrough
    if reason:
        assert reason in message


class WidenPassing(Widen):
    """A channel-doubling layer wrongly registered as 'passthrough'."""


class Gate(L.Layer):
    """Scales `x` by a statistic of all channels of `y`."""

    def call(self, x, y):
        return x * keras.ops.mean(y, axis=(1, 2, 3), keepdims=True)


def test_passthrough_handler_refuses_what_it_cannot_describe():
    tfc.register_handler(WidenPassing, "passthrough")
    x = keras.Input((4, 8))
    model = keras.Model(x, WidenPassing(name="wide")(L.Dense(8)(x)))
    with pytest.raises(tfc.GraphError, match="'wide' \\(WidenPassing\\)"):
        tfc.ChannelGraph(model)


def test_passthrough_handler_keeps_side_inputs_whole():
    tfc.register_handler(Gate, "passthrough")
    x = keras.Input((6, 6, 3))
    a = L.Conv2D(4, 3, name="ca")(x)
    b = L.Conv2D(5, 3, name="cb")(x)
    h = Gate(name="gate")(a, b)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(x, L.Dense(2, name="head")(h))
    graph, _ = _check_slim_matches_masks(
        model, np.ones((2, 6, 6, 3), "float32")
    )
    assert [g.name for g in graph.groups] == ["ca"]


class Projection(L.Layer):
    """A custom dense product with no profile cost function."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), name="kernel"
        )

    def call(self, x):
        return keras.ops.matmul(x, self.kernel)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class ProjectionHandler(tfc.graph.LayerHandler):
    def propagate(self, ctx):
        out = ctx.new_space(ctx.layer.units)
        ctx.bind("kernel", 1, out, "producer")
        ctx.bind("kernel", 0, ctx.inputs[0], "consumer")
        ctx.count_macs("kernel", 1)
        return [out]

    def slim_config(self, layer, config, in_keep, out_keep):
        return {**config, "units": int(out_keep[0].sum())}


def test_handler_declared_macs_count_without_a_profile_cost_function():
    tfc.register_handler(Projection, ProjectionHandler())
    x = keras.Input((4,))
    h = L.Dense(6, name="d")(x)
    h = Projection(5, name="p")(h)
    model = keras.Model(x, L.Dense(2, name="head")(h))
    graph = tfc.ChannelGraph(model)
    assert tfc.estimate_slim_cost(model, graph=graph)[0] == 24 + 30 + 10
    masks = {
        "d": np.arange(6) < 3,
        "p": np.arange(5) < 2,
    }
    macs, _ = tfc.estimate_slim_cost(model, masks, graph=graph)
    assert macs == 4 * 3 + 3 * 2 + 2 * 2


def _hybrid(attention):
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    seq = L.Reshape((64, 32))(x)
    mixed = attention(seq, seq)
    pooled = L.GlobalAveragePooling1D()(L.Add()([seq, mixed]))
    return keras.Model(inputs, L.Dense(4)(pooled))


@pytest.mark.parametrize(
    "attention, inner",
    [
        (lambda: L.MultiHeadAttention(2, 16, name="att"), [2, 16, 16]),
        (lambda: L.GroupQueryAttention(16, 2, 1, name="att"), [1, 16]),
    ],
    ids=["mha", "gqa"],
)
def test_multi_head_attention_prunes_with_the_convolutions(attention, inner):
    model = _hybrid(attention())
    before = snapshot(model)
    graph = tfc.ChannelGraph(model)
    sizes = [g.size for g in graph.groups]
    assert sizes == [16, 32] + inner
    masks = {g.name: np.arange(g.size) % 2 == 0 for g in graph.groups}
    x = np.random.default_rng(0).random((2, 8, 8, 3), dtype="float32")
    small = tfc.slim(model, masks)
    reference = tfc.apply_masks(model, masks)
    np.testing.assert_allclose(
        small(x, training=False), reference(x, training=False), atol=1e-5
    )
    assert tfc.estimate_slim_cost(model, masks)[0] == tfc.profile(small).macs
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    "attention",
    [
        lambda: L.Attention(name="att"),
        lambda: L.AdditiveAttention(name="att"),
    ],
    ids=["dot", "additive"],
)
def test_attention_is_kept_whole_and_the_convolutions_around_it_prune(
    attention,
):
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    seq = L.Reshape((64, 32))(x)
    layer = attention()
    if isinstance(layer, (L.Attention, L.AdditiveAttention)):
        mixed = layer([seq, seq])
    else:
        mixed = layer(seq, seq)
    pooled = L.GlobalAveragePooling1D()(L.Add()([seq, mixed]))
    model = keras.Model(inputs, L.Dense(4)(pooled))
    before = snapshot(model)
    graph = tfc.ChannelGraph(model)
    assert [g.size for g in graph.groups] == [16]
    masks = {graph.groups[0].name: np.arange(16) % 2 == 0}
    x = np.random.default_rng(0).random((2, 8, 8, 3), dtype="float32")
    small = tfc.slim(model, masks)
    reference = tfc.apply_masks(model, masks)
    np.testing.assert_allclose(
        small(x, training=False), reference(x, training=False), atol=1e-5
    )
    assert small.count_params() < model.count_params()
    assert_unchanged(model, before)
