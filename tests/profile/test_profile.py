"""Whole-model profiles: parameters, nesting, shared layers, memory."""

import warnings

import keras
import pytest

import tf_compact as tfc

L = keras.layers


def _mixed_model():
    inputs = keras.Input((12, 12, 3))
    x = L.Rescaling(1 / 255.0)(inputs)
    x = L.Conv2D(8, 3, padding="same", name="conv")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU()(x)
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.Add()([x, y])
    x = L.MaxPooling2D()(x)
    x = L.SeparableConv2D(6, 3, name="sep")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.2)(x)
    frozen = L.Dense(5, name="frozen")
    frozen.trainable = False
    x = frozen(x)
    outputs = L.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="mixed")


def test_params_match_keras_counts():
    model = _mixed_model()
    prof = tfc.profile(model)
    trainable = sum(w.numpy().size for w in model.trainable_weights)
    assert prof.params == model.count_params()
    assert prof.trainable_params == trainable
    assert prof.non_trainable_params == model.count_params() - trainable
    assert sum(row.params for row in prof.layers) == prof.params
    assert prof.layer("frozen").trainable_params == 0
    assert prof.layer("frozen").params == 5 * 6 + 5


def test_totals_are_sums_of_rows():
    prof = tfc.profile(_mixed_model())
    assert prof.macs == sum(row.macs for row in prof.layers)
    assert prof.other_ops == sum(row.other_ops for row in prof.layers)
    assert prof.flops == 2 * prof.macs + prof.other_ops
    conv = prof.layer("conv")
    assert conv.macs == 12 * 12 * 8 * 9 * 3
    assert conv.class_name == "Conv2D"


def test_does_not_touch_the_model():
    model = _mixed_model()
    nodes = [len(layer._inbound_nodes) for layer in model.layers]
    tfc.profile(model, batch_size=2, input_shape=(16, 16, 3))
    assert [len(layer._inbound_nodes) for layer in model.layers] == nodes


def test_sequential_built_with_build():
    model = keras.Sequential([L.Dense(4), L.Dense(2)])
    model.build((None, 3))
    prof = tfc.profile(model)
    assert prof.macs == 3 * 4 + 4 * 2
    assert prof.params == model.count_params()


def test_nested_models_and_shared_layers_count_every_call():
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, L.Dense(6, name="d")(inner_in), name="inner")
    seq = keras.Sequential(
        [keras.Input((6,)), L.Dense(2, name="s")], name="seq"
    )
    inputs = keras.Input((4,))
    a = inner(inputs)
    b = inner(inputs)
    x = L.Add()([a, b])
    outputs = seq(x)
    model = keras.Model(inputs, outputs)
    prof = tfc.profile(model)
    paths = [row.path for row in prof.layers]
    assert paths == ["inner/d", "inner:1/d:1", "add", "seq/s"]
    assert prof.macs == 2 * (4 * 6) + 6 * 2
    assert prof.layer("inner/d").params == 4 * 6 + 6
    assert prof.layer("inner:1/d:1").params == 0
    assert prof.params == model.count_params()


def test_nested_model_with_unknown_spatial_dims_is_resolved():
    inner_in = keras.Input((None, None, 3))
    inner = keras.Model(inner_in, L.Conv2D(4, 3, name="c")(inner_in))
    inputs = keras.Input((10, 10, 3))
    model = keras.Model(inputs, L.Flatten()(inner(inputs)))
    prof = tfc.profile(model)
    row = prof.layers[0]
    assert row.output_shape == (1, 8, 8, 4)
    assert row.macs == 8 * 8 * 4 * 9 * 3
    assert prof.layers[1].output_shape == (1, 8 * 8 * 4)


def test_input_shape_resolves_none_dims():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, L.Conv2D(4, 3, name="c")(inputs))
    with pytest.warns(UserWarning, match="not fully known"):
        unresolved = tfc.profile(model)
    assert unresolved.macs == 0
    prof = tfc.profile(model, input_shape=(10, 10, 3))
    assert prof.layer("c").macs == 8 * 8 * 4 * 9 * 3


def test_peak_activation_memory_of_a_chain():
    model = keras.Sequential([keras.Input((100,)), L.Dense(50), L.Dense(10)])
    prof = tfc.profile(model)
    # float32: input 400 B, first output 200 B, second 40 B.
    assert prof.activation_bytes == 200 + 40
    # While the first Dense runs, its input and output are both alive.
    assert prof.peak_activation_bytes == 400 + 200


def test_peak_memory_keeps_skip_connections_alive():
    inputs = keras.Input((10,))
    a = L.Dense(10)(inputs)
    b = L.Dense(10)(a)
    c = L.Dense(10)(b)
    model = keras.Model(inputs, L.Add()([a, c]))
    prof = tfc.profile(model)
    # At the third Dense, `a` (kept for Add), `b` and `c` are alive: 120 B;
    # at Add, `a`, `c` and the sum: 120 B.
    assert prof.peak_activation_bytes == 3 * 40


class Doubler(L.Layer):
    def call(self, x):
        return 2.0 * x


def test_unknown_layer_warns_and_counts_zero():
    inputs = keras.Input((4,))
    x = Doubler(name="twice")(inputs)
    model = keras.Model(inputs, L.Dense(3)(x))
    with pytest.warns(UserWarning, match="'twice' \\(Doubler\\)"):
        prof = tfc.profile(model)
    assert prof.unknown_layers == ["twice"]
    assert prof.layer("twice").macs == 0
    assert prof.macs == 4 * 3


def test_registered_custom_layer_is_costed():
    def cost(layer, input_shapes, output_shapes):
        return 0, output_shapes[0][-1]

    inputs = keras.Input((4,))
    model = keras.Model(inputs, Doubler(name="twice")(inputs))
    tfc.profile.register_macs(Doubler, cost)
    try:
        prof = tfc.profile(model)
    finally:
        tfc.profile.unregister_macs(Doubler)
    assert prof.unknown_layers == []
    assert prof.layer("twice").other_ops == 4


class Small(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = L.Conv2D(4, 3)
        self.pool = L.GlobalAveragePooling2D()
        self.head = L.Dense(2)

    def call(self, x):
        return self.head(self.pool(self.conv(x)))


def test_subclassed_model_gets_best_effort_profile_and_warning():
    model = Small()
    model(keras.ops.zeros((1, 6, 6, 3)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prof = tfc.profile(model)
        double = tfc.profile(model, batch_size=2)
    messages = [str(w.message) for w in caught]
    assert any("is subclassed" in m for m in messages)
    # Pooling has no weights, hence no recorded build shape.
    assert any(
        "'global_average_pooling2d' has no recorded" in m for m in messages
    )
    assert [row.class_name for row in prof.layers] == [
        "Conv2D",
        "GlobalAveragePooling2D",
        "Dense",
    ]
    assert prof.macs == 4 * 4 * 4 * 9 * 3 + 4 * 2
    assert prof.params == model.count_params()
    # The recorded build shapes have batch 1; the profiled batch replaces it.
    assert double.macs == 2 * prof.macs


def test_unbuilt_models_are_rejected():
    with pytest.raises(ValueError, match="not built"):
        tfc.profile(keras.Sequential([L.Dense(2)]))
    with pytest.raises(ValueError, match="not built"):
        tfc.profile(Small())


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"batch_size": 0}, ValueError),
        ({"batch_size": 1.5}, TypeError),
        ({"input_shape": (3, 3)}, ValueError),
        ({"input_shape": (8, -1, 3)}, ValueError),
        ({"input_shape": [(8, 8, 3), (8, 8, 3)]}, ValueError),
    ],
)
def test_invalid_arguments(kwargs, error):
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, L.Conv2D(2, 1)(inputs))
    with pytest.raises(error, match="Received"):
        tfc.profile(model, **kwargs)


def test_rejects_non_models():
    with pytest.raises(TypeError, match="Expected a `keras.Model`"):
        tfc.profile(L.Dense(3))


def test_table_lists_layers_and_totals():
    model = _mixed_model()
    prof = tfc.profile(model)
    text = prof.table()
    for layer in ("conv", "bn", "dw", "sep", "head"):
        assert layer in text
    assert "Total MACs" in text
    assert f"({prof.macs:,})" in text
    assert f"({prof.params:,})" in text
    widths = {len(line) for line in text.splitlines()[1:3]}
    assert len(widths) == 1


class ResBlock(L.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = L.Conv2D(filters, 3, padding="same", use_bias=False)
        self.conv2 = L.Conv2D(filters, 1, use_bias=False)

    def call(self, x):
        return x + self.conv2(self.conv1(x))


def test_custom_layer_with_sublayers_is_costed_from_them():
    inputs = keras.Input((6, 6, 4))
    x = ResBlock(4, name="block")(inputs)
    expand = L.Conv2D(16, 1, use_bias=False, name="expand")
    model = keras.Model(inputs, expand(x))
    with pytest.warns(UserWarning, match="'block' \\(ResBlock\\)"):
        prof = tfc.profile(model)
    rows = [(r.path.split("/")[0], r.class_name) for r in prof.layers]
    assert rows == [
        ("block", "Conv2D"),
        ("block", "Conv2D"),
        ("expand", "Conv2D"),
    ]
    assert prof.unknown_layers == []
    assert prof.macs == 36 * 4 * 9 * 4 + 36 * 4 * 4 + 36 * 16 * 4
    assert prof.params == model.count_params()
    # The block's output (6*6*4 float32 = 576 B) is alive with the
    # expanded output (6*6*16 float32 = 2304 B) when `expand` runs.
    assert prof.peak_activation_bytes == 576 + 2304


class Scaled(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(4, name="sd")

    def call(self, x):
        return 2.0 * self.dense(x)


def test_nested_subclassed_model_in_functional_graph():
    inputs = keras.Input((5,))
    x = Scaled(name="scaled")(inputs)
    model = keras.Model(inputs, L.Dense(2, name="h")(x))
    with pytest.warns(UserWarning, match="'scaled' \\(Scaled\\)"):
        prof = tfc.profile(model)
    assert [row.path for row in prof.layers] == ["scaled/sd", "h"]
    assert prof.macs == 5 * 4 + 4 * 2
    assert prof.params == model.count_params()


def test_model_without_layers():
    inputs = keras.Input((5,))
    prof = tfc.profile(keras.Model(inputs, inputs))
    assert prof.layers == []
    assert prof.macs == 0
    assert prof.peak_activation_bytes == 5 * 4
