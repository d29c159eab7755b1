"""sparsity_report: norms, channels below threshold, slim cost."""

import json

import keras
import numpy as np
import pytest

import tf_compact as tfc


def _model():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, padding="same", name="c1"),
            keras.layers.BatchNormalization(name="bn1"),
            keras.layers.ReLU(),
            keras.layers.Conv2D(6, 3, padding="same", name="c2"),
            keras.layers.BatchNormalization(name="bn2"),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, name="head"),
        ]
    )


def _zero_channels(model, conv, bn, channels):
    layer, norm = model.get_layer(conv), model.get_layer(bn)
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    kernel[..., channels] = 0.0
    bias[channels] = 0.0
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    for v in (norm.gamma, norm.beta):
        value = v.numpy()
        value[channels] = 0.0
        v.assign(value)


def test_counts_zero_channels_and_estimates_the_slim_model():
    model = _model()
    _zero_channels(model, "c1", "bn1", [0, 2])
    _zero_channels(model, "c2", "bn2", [1])
    report = tfc.sparsity_report(model, threshold=1e-6)
    assert report.num_channels == 10
    assert report.num_below == 3
    assert report.fraction_below == pytest.approx(0.3)
    np.testing.assert_array_equal(
        report.masks["c1"], [False, True, False, True]
    )
    macs, params = tfc.estimate_slim_cost(model, report.masks)
    assert (report.macs, report.params) == (macs, params)
    dense_macs, dense_params = tfc.estimate_slim_cost(model)
    assert report.macs_fraction == pytest.approx(macs / dense_macs)
    assert report.params_fraction == pytest.approx(params / dense_params)
    slim = tfc.slim(model, report.masks)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(slim(x), model(x), atol=1e-5)


def test_norms_match_the_penalty_members():
    model = _model()
    report = tfc.sparsity_report(model)
    c1, bn1 = model.get_layer("c1"), model.get_layer("bn1")
    expected = np.sqrt(
        np.sum(np.square(c1.kernel.numpy()), axis=(0, 1, 2))
        + np.square(c1.bias.numpy())
        + np.square(bn1.gamma.numpy())
        + np.square(bn1.beta.numpy())
    )
    np.testing.assert_allclose(report.norms["c1"], expected, rtol=1e-5)


def test_a_group_keeps_its_largest_channel():
    model = _model()
    _zero_channels(model, "c1", "bn1", [0, 1, 2, 3])
    report = tfc.sparsity_report(model, threshold=1e-6)
    assert report.num_below == 4
    assert report.masks["c1"].sum() == 1


def test_bn_gamma_penalty_reports_l1_of_the_scales():
    model = _model()
    bn1 = model.get_layer("bn1")
    bn1.gamma.assign(np.array([0.5, -0.2, 0.0, 1.0], "float32"))
    report = tfc.sparsity_report(model, threshold=0.1, penalty=tfc.BNGammaL1())
    np.testing.assert_allclose(report.norms["c1"], [0.5, 0.2, 0.0, 1.0])
    assert report.rows()[0]["below"] == 1


def test_table_dict_and_block_costs():
    model = _model()
    report = tfc.sparsity_report(model, blocks={"first": ["c1", "bn1"]})
    slim, dense = report.block_macs["first"]
    assert slim == dense > 0
    assert "channels <" in report.table()
    assert json.loads(json.dumps(report.to_dict()))["num_channels"] == 10
    assert set(report.logs()) >= {"group_sparsity", "slim_macs_fraction"}


def test_invalid_threshold():
    with pytest.raises(ValueError, match="Received: threshold=-1"):
        tfc.sparsity_report(_model(), threshold=-1.0)


def test_each_producer_of_a_concatenated_group_keeps_a_channel():
    inputs = keras.Input((6, 6, 1))
    a = keras.layers.Conv2D(2, 1, name="a")(inputs)
    b = keras.layers.Conv2D(3, 1, name="b")(inputs)
    c = keras.layers.Conv2D(5, 1, name="c")(inputs)
    x = keras.layers.Add()([keras.layers.Concatenate()([a, b]), c])
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    for layer in (model.get_layer(n) for n in "abc"):
        for v in layer.weights:
            v.assign(np.zeros(v.shape, "float32"))
    report = tfc.sparsity_report(model, threshold=1e-6)
    (name,) = report.masks
    mask = report.masks[name]
    assert report.num_below == 5
    assert mask[:2].sum() == 1 and mask[2:].sum() == 1
    assert tfc.slim(model, report.masks)(np.zeros((1, 6, 6, 1))).shape == (
        1,
        2,
    )
