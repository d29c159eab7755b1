"""slim and apply_masks: the result is a normal, independent Keras model."""

import keras
import numpy as np
from keras import layers as L

import tf_compact as tfc
from tests.graph import checks
from tests.graph import zoo as models


def _x(model, n=2):
    shape = (n,) + tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(0).normal(size=shape).astype("float32")


def _half(graph):
    return {g.name: np.arange(g.size) % 2 == 0 for g in graph.groups}


def test_input_model_is_not_changed():
    model = models.se_block()
    before = [w.copy() for w in model.get_weights()]
    config = model.get_config()
    nodes = [len(layer._inbound_nodes) for layer in model.layers]
    graph = tfc.ChannelGraph(model)
    tfc.slim(model, _half(graph), graph=graph)
    tfc.apply_masks(model, _half(graph), graph=graph)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.get_config() == config
    assert [len(layer._inbound_nodes) for layer in model.layers] == nodes


def test_names_and_dtype_policy_are_kept():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = models.conv_chain()
    finally:
        keras.config.set_dtype_policy("float32")
    graph = tfc.ChannelGraph(model)
    small = tfc.slim(model, _half(graph), graph=graph)
    assert [layer.name for layer in small.layers] == [
        layer.name for layer in model.layers
    ]
    for a, b in zip(model.layers[1:], small.layers[1:]):
        assert a.dtype_policy.name == b.dtype_policy.name == "mixed_float16"


def test_slim_model_compiles_trains_saves_and_reloads(tmp_path):
    model = models.se_block()
    graph = tfc.ChannelGraph(model)
    small = tfc.slim(model, _half(graph), graph=graph)
    small.compile(optimizer="sgd", loss="mse")
    x = _x(model, 4)
    y = np.zeros((4, 6, 6, 3), "float32")
    small.fit(x, y, epochs=1, batch_size=2, verbose=0)
    path = str(tmp_path / "small.keras")
    small.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again(x), small(x), rtol=1e-5, atol=1e-6)


def test_nested_models_come_out_flat_and_sequential_works():
    model = models.nested()
    graph, _, small = checks.slim_and_check(model, _x(model))
    assert not any(isinstance(la, keras.Model) for la in small.layers)
    assert "inner_conv" in [la.name for la in small.layers]
    seq = keras.Sequential(
        [keras.Input((5,)), L.Dense(6), L.ReLU(), L.Dense(2)], name="seq"
    )
    checks.slim_and_check(seq, np.ones((2, 5), "float32"))


def test_apply_masks_keeps_the_architecture_and_zeroes_channels():
    model = models.nested()
    graph = tfc.ChannelGraph(model)
    masks = _half(graph)
    masked = tfc.apply_masks(model, masks, graph=graph)
    names = [la.name for la in masked.layers[1:]]
    assert names == [la.name for la in model.layers[1:]]
    assert isinstance(masked.get_layer("inner_seq"), keras.Sequential)
    conv = masked.get_layer("conv2d_1")
    removed = ~masks["conv2d_1"]
    assert not conv.kernel.numpy()[..., removed].any()
    assert conv.kernel.numpy()[..., ~removed].any()


def test_multi_input_multi_output_models():
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    h = L.Add()([L.Dense(6)(a), L.Dense(6)(b)])
    h = L.Dense(5, activation="relu")(h)
    model = keras.Model({"a": a, "b": b}, [L.Dense(2)(h), L.Dense(3)(h)])
    x = {"a": np.ones((2, 4), "f4"), "b": np.full((2, 4), 0.5, "f4")}
    graph, _, small = checks.slim_and_check(model, x)
    assert [g.size for g in graph.groups] == [6, 5]
    assert [o.shape for o in small(x)] == [(2, 2), (2, 3)]


def _two_nested_heads():
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(8, 3, name="conv")(inputs)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    age = keras.Sequential(
        [L.Dense(6, activation="relu"), L.Dense(1)], name="age"
    )
    sex = keras.Sequential(
        [L.Dense(6, activation="relu"), L.Dense(2)], name="sex"
    )
    return keras.Model(inputs, [age(x), sex(x)], name="two_heads")


def test_outputs_of_nested_models_keep_their_names_for_compile():
    model = _two_nested_heads()
    small = tfc.prune(model, ratio=0.5)
    assert small.output_names == model.output_names == ["age", "sex"]
    x = np.random.default_rng(0).random((8, 8, 8, 3)).astype("float32")
    y = {"age": np.ones((8, 1), "float32"), "sex": np.arange(8) % 2}
    small.compile(
        "adam",
        {
            "age": "mse",
            "sex": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        },
    )
    history = small.fit(x, y, epochs=1, verbose=0).history
    assert {"age_loss", "sex_loss"} <= set(history)


def test_a_prefixed_nested_name_taken_by_another_layer_gets_a_suffix():
    inner_in = keras.Input((8,))
    hidden = L.Dense(8, activation="relu", name="dense")(inner_in)
    head = keras.Model(inner_in, L.Dense(3, name="out")(hidden), name="head")
    inputs = keras.Input((8,))
    h = L.Dense(8, activation="relu", name="dense")(inputs)
    h = L.Dense(8, activation="relu", name="head_dense")(h)
    model = keras.Model(inputs, head(h))
    graph = tfc.ChannelGraph(model)
    names = [n.name for n in graph.flat.nodes]
    assert names == ["dense", "head_dense", "head_dense_1", "out"]
    masks = {g.name: np.arange(g.size) % 2 == 0 for g in graph.groups}
    assert set(masks) == {"dense", "head_dense", "head_dense_1"}
    x = np.random.default_rng(1).normal(size=(4, 8)).astype("float32")
    small = tfc.slim(model, masks, graph=graph)
    reference = tfc.apply_masks(model, masks, graph=graph)
    np.testing.assert_allclose(
        small(x, training=False), reference(x, training=False), atol=1e-5
    )
    assert small.count_params() < model.count_params()
