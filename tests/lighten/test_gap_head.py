"""Tests for `tf_compact.lighten.gap_head`."""

import keras
import numpy as np
import pytest

from tests.lighten import helpers
from tf_compact import lighten


def test_replaces_flatten_and_shrinks_the_dense():
    model = helpers.vgg_like()
    light = lighten.gap_head(model)
    classes = [type(layer).__name__ for layer in light.layers]
    assert "Flatten" not in classes
    assert "GlobalAveragePooling2D" in classes
    assert light.get_layer("fc1").kernel.shape == (5, 7)
    assert light.count_params() < model.count_params()
    assert light.output_shape == model.output_shape


def test_exact_for_spatially_constant_features():
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 1, name="pointwise")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    light = lighten.gap_head(model)
    rng = np.random.default_rng(1)
    per_image = rng.uniform(size=(3, 1, 1, 3)).astype("float32")
    x = np.broadcast_to(per_image, (3, 6, 6, 3)).copy()
    np.testing.assert_allclose(light(x), model(x), rtol=1e-5, atol=1e-5)


def test_other_weights_are_copied():
    model = helpers.vgg_like()
    light = lighten.gap_head(model)
    for name in ("conv1", "bn1", "conv2", "conv3", "logits"):
        for a, b in zip(
            model.get_layer(name).get_weights(),
            light.get_layer(name).get_weights(),
        ):
            np.testing.assert_array_equal(a, b)


def test_input_model_is_not_mutated():
    model = helpers.vgg_like()
    config, weights = model.get_config(), helpers.weights_of(model)
    lighten.gap_head(model)
    helpers.assert_unchanged(model, config, weights)


def test_sequential_and_nested_models():
    seq = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, name="c"),
            keras.layers.Flatten(name="f"),
            keras.layers.Dense(2, name="d"),
        ]
    )
    assert lighten.gap_head(seq).get_layer("d").kernel.shape == (4, 2)
    inputs = keras.Input((6, 6, 2))
    outer = keras.Model(inputs, seq(inputs))
    light = lighten.gap_head(outer)
    assert light.count_params() == 4 * 2 * 9 + 4 + 4 * 2 + 2


def test_conv1d_head():
    inputs = keras.Input((16, 3))
    x = keras.layers.Conv1D(4, 3, name="c")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2, name="d")(x)
    light = lighten.gap_head(keras.Model(inputs, outputs))
    assert isinstance(light.layers[2], keras.layers.GlobalAveragePooling1D)
    assert light.get_layer("d").kernel.shape == (4, 2)


def test_selected_layers_only():
    model = helpers.vgg_like()
    light = lighten.gap_head(model, layers=["flatten"])
    assert light.get_layer("fc1").kernel.shape == (5, 7)
    with pytest.raises(ValueError, match="Received: 'conv1'"):
        lighten.gap_head(model, layers=["conv1"])
    with pytest.raises(TypeError, match="layers="):
        lighten.gap_head(model, layers="flatten")


def test_no_flatten_head_is_an_error():
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(ValueError, match="No Flatten"):
        lighten.gap_head(model)


def test_per_feature_layer_after_flatten_is_an_error():
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.BatchNormalization(name="flat_bn")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(ValueError, match="flat_bn"):
        lighten.gap_head(model)


def test_bad_model_arguments():
    with pytest.raises(TypeError, match="Expected a `keras.Model`"):
        lighten.gap_head("model")

    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="subclassed model of class Sub"):
        lighten.gap_head(Sub())


def test_lightened_model_trains_saves_and_reloads(tmp_path):
    light = lighten.gap_head(helpers.vgg_like())
    light.compile("adam", "sparse_categorical_crossentropy")
    x, y = helpers.images(batch=8), np.arange(8) % 3
    light.fit(x, y, epochs=1, verbose=0)
    reloaded = helpers.save_and_reload(light, tmp_path)
    np.testing.assert_allclose(reloaded(x), light(x), atol=1e-6)
