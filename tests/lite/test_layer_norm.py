"""LayerNormalization converts to full int8 through its quantizable form."""

import keras
import numpy as np
import pytest
from keras import layers as L

import tf_compact as tfc
from tf_compact.lite.layer_norm import QuantizableLayerNormalization
from tf_compact.lite.layer_norm import quantizable_clone
from tf_compact.lite.ops import float_compute_ops
from tf_compact.lite.ops import read_ops


def _randomize(layer, seed):
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        ({}, (5, 8)),
        ({"epsilon": 1e-5}, (5, 8)),
        ({"axis": [1, 2]}, (5, 8)),
        ({"axis": 1}, (5, 8)),
        ({"center": False}, (4, 4, 6)),
        ({"scale": False, "center": False}, (4, 4, 6)),
    ],
    ids=["default", "eps", "two_axes", "axis1", "no_beta", "plain"],
)
def test_same_function_as_layer_normalization(kwargs, shape):
    x = np.random.default_rng(0).normal(3.0, 2.0, (4,) + shape)
    x = x.astype("float32")
    original = L.LayerNormalization(**kwargs)
    original.build(x.shape)
    _randomize(original, 1)
    layer = QuantizableLayerNormalization.from_config(original.get_config())
    layer.build(x.shape)
    layer.set_weights(original.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)),
        keras.ops.convert_to_numpy(original(x)),
        atol=2e-5,
    )


def test_config_round_trip_and_serialization():
    layer = QuantizableLayerNormalization(axis=[1, 2], epsilon=1e-5)
    config = layer.get_config()
    assert QuantizableLayerNormalization.from_config(config).get_config() == (
        config
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is QuantizableLayerNormalization
    assert restored.get_config() == config


def _transformer(name="ln_model"):
    x = keras.Input((16, 12))
    h = L.Dense(16, name="embed")(x)
    n = L.LayerNormalization(epsilon=1e-5, name="ln1")(h)
    a = L.MultiHeadAttention(2, 8, name="mha")(n, n)
    h = L.Add(name="res")([h, a])
    inner = keras.Sequential(
        [keras.Input((16, 16)), L.LayerNormalization(name="ln2")],
        name="inner",
    )
    h = inner(h)
    h = L.GlobalAveragePooling1D(name="gap")(h)
    model = keras.Model(x, L.Dense(4, name="head")(h), name=name)
    for i, layer in enumerate(("ln1",)):
        _randomize(model.get_layer(layer), i)
    return model


def test_clone_rewrites_every_layer_norm_and_keeps_the_model():
    keras.utils.set_random_seed(0)
    model = _transformer()
    before = [np.array(w) for w in model.get_weights()]
    clone = quantizable_clone(model)
    assert clone is not model
    norms = [
        layer
        for layer in clone._flatten_layers(include_self=False)
        if isinstance(layer, L.LayerNormalization)
    ]
    assert sorted(n.name for n in norms) == ["ln1", "ln2"]
    assert all(type(n) is QuantizableLayerNormalization for n in norms)
    x = np.random.default_rng(0).normal(size=(8, 16, 12)).astype("float32")
    np.testing.assert_allclose(
        clone(x, training=False), model(x, training=False), atol=1e-5
    )
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert all(
        type(layer) is not QuantizableLayerNormalization
        for layer in model._flatten_layers(include_self=False)
    )


def test_clone_of_a_model_without_layer_norm_is_the_model():
    x = keras.Input((4,))
    model = keras.Model(x, L.Dense(2)(x))
    assert quantizable_clone(model) is model


def test_int8_convert_of_layer_norms_is_full_integer_and_accurate():
    keras.utils.set_random_seed(0)
    model = _transformer()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 16, 12)).astype("float32")
    result = tfc.lite.convert(
        model, mode="int8", representative_data=x, num_calibration_steps=64
    )
    ops = read_ops(bytes(result))
    assert float_compute_ops(ops) == []
    assert "NEG" not in {op.op_name for op in ops}
    expected = keras.ops.convert_to_numpy(model(x[:32], training=False))
    got = tfc.lite.predict(result, x[:32])
    scale = float(np.ptp(expected))
    assert np.abs(got - expected).max() <= 0.05 * scale
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.9
