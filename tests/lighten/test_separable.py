"""Tests for `tf_compact.lighten.separable`."""

import keras
import numpy as np
import pytest

from tests.lighten import helpers
from tf_compact import lighten


def _class_of(model, name):
    return type(model.get_layer(name)).__name__


def test_default_keeps_the_stem_and_replaces_the_rest():
    light = lighten.separable(helpers.vgg_like())
    assert _class_of(light, "conv1") == "Conv2D"
    assert _class_of(light, "conv2") == "SeparableConv2D"
    assert _class_of(light, "conv3") == "SeparableConv2D"
    assert light.output_shape == (None, 3)


@pytest.mark.parametrize("strides", [1, 2])
def test_full_rank_svd_initialisation_is_exact(strides):
    inputs = keras.Input((9, 9, 5))
    x = keras.layers.Conv2D(
        6, 3, strides=strides, padding="same", activation="relu", name="c"
    )(inputs)
    model = keras.Model(inputs, x)
    model.get_layer("c").bias.assign(np.linspace(-1, 1, 6))
    light = lighten.separable(model, depth_multiplier=6)
    x = helpers.images((9, 9, 5))
    np.testing.assert_allclose(light(x), model(x), rtol=1e-4, atol=1e-5)


def test_conv1d_full_rank_is_exact():
    inputs = keras.Input((12, 4))
    outputs = keras.layers.Conv1D(3, 5, dilation_rate=2, name="c")(inputs)
    model = keras.Model(inputs, outputs)
    light = lighten.separable(model, depth_multiplier=3)
    assert _class_of(light, "c") == "SeparableConv1D"
    x = helpers.images((12, 4))
    np.testing.assert_allclose(light(x), model(x), rtol=1e-4, atol=1e-5)


def test_rank_one_approximation_beats_random_init():
    model = helpers.vgg_like()
    x = helpers.images()
    errors = {}
    for init in ("svd", "random"):
        light = lighten.separable(model, layers=["conv2"], initialization=init)
        sub = keras.Model(light.input, light.get_layer("conv2").output)
        ref = keras.Model(model.input, model.get_layer("conv2").output)
        errors[init] = float(np.mean((sub(x) - ref(x)) ** 2))
    assert errors["svd"] < errors["random"]


def test_fewer_params_and_weights_of_other_layers_copied():
    model = helpers.vgg_like()
    light = lighten.separable(model)
    assert light.count_params() < model.count_params()
    for a, b in zip(
        model.get_layer("fc1").get_weights(),
        light.get_layer("fc1").get_weights(),
    ):
        np.testing.assert_array_equal(a, b)


def test_input_model_is_not_mutated():
    model = helpers.vgg_like()
    config, weights = model.get_config(), helpers.weights_of(model)
    lighten.separable(model, depth_multiplier=2)
    helpers.assert_unchanged(model, config, weights)


def test_selected_layers_and_errors():
    model = helpers.vgg_like()
    light = lighten.separable(model, layers=["conv1"])
    assert _class_of(light, "conv1") == "SeparableConv2D"
    assert _class_of(light, "conv2") == "Conv2D"
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        lighten.separable(model, layers=["nope"])
    with pytest.raises(ValueError, match="'fc1' cannot be made separable"):
        lighten.separable(model, layers=["fc1"])
    with pytest.raises(ValueError, match="depth_multiplier=0"):
        lighten.separable(model, depth_multiplier=0)
    with pytest.raises(TypeError, match="depth_multiplier=1.5"):
        lighten.separable(model, depth_multiplier=1.5)
    with pytest.raises(ValueError, match="initialization='zeros'"):
        lighten.separable(model, initialization="zeros")


def test_nothing_eligible_is_an_error():
    inputs = keras.Input((6, 6, 8))
    outputs = keras.layers.Conv2D(4, 1)(inputs)
    with pytest.raises(ValueError, match="No convolution"):
        lighten.separable(keras.Model(inputs, outputs))


def test_sequential_model():
    seq = keras.Sequential(
        [
            keras.Input((8, 8, 4)),
            keras.layers.Conv2D(4, 3, name="a"),
            keras.layers.Conv2D(4, 3, name="b"),
        ]
    )
    light = lighten.separable(seq, depth_multiplier=4)
    assert isinstance(light, keras.Sequential)
    x = helpers.images((8, 8, 4))
    np.testing.assert_allclose(light(x), seq(x), rtol=1e-4, atol=1e-5)


def test_separable_model_saves_and_reloads(tmp_path):
    light = lighten.separable(lighten.gap_head(helpers.vgg_like()))
    x = helpers.images()
    reloaded = helpers.save_and_reload(light, tmp_path)
    np.testing.assert_allclose(reloaded(x), light(x), atol=1e-6)
