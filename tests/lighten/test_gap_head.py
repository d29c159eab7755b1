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


def _sequential():
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, name="c"),
            keras.layers.Flatten(name="f"),
            keras.layers.Dense(2, name="d"),
        ]
    )


def test_sequential_and_nested_models():
    seq = _sequential()
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


def _position_free_head():
    """A Flatten→Dense head whose kernel is the same at every position.

    Its output is then a linear function of the pooled features, whatever
    the feature maps look like, so a least-squares fit can reproduce it.
    """
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, name="fc")(x)
    outputs = keras.layers.Dense(2, name="out")(keras.layers.ReLU()(x))
    model = keras.Model(inputs, outputs)
    per_channel = np.random.default_rng(2).normal(size=(4, 5))
    fc = model.get_layer("fc")
    fc.set_weights([np.tile(per_channel, (36, 1)).astype("f4"), fc.bias])
    return model


def test_data_fit_reproduces_a_pooled_linear_head():
    model = _position_free_head()
    rng = np.random.default_rng(3)
    x = helpers.images(batch=64, shape=(6, 6, 3))
    x = x * rng.uniform(0.2, 2.0, size=(64, 1, 1, 3)).astype("f4")
    fitted = lighten.gap_head(model, data=x)
    want = model(x).numpy()
    err_fit = np.abs(fitted(x).numpy() - want).max()
    assert err_fit < 1e-3 * np.abs(want).max()


def test_data_fit_solves_the_normal_equations():
    model = helpers.vgg_like()
    x = helpers.images(batch=48)
    fitted = lighten.gap_head(model, data=x)
    fc_old, fc_new = model.get_layer("fc1"), fitted.get_layer("fc1")
    feats = keras.Model(model.inputs, fc_old.input)(x).numpy()
    target = feats.reshape(len(x), -1) @ fc_old.kernel.numpy() + fc_old.bias
    pooled = keras.Model(fitted.inputs, fc_new.input)(x).numpy()
    design = np.concatenate([pooled, np.ones((len(x), 1))], axis=1)
    got = design @ np.concatenate([fc_new.kernel.numpy(), fc_new.bias[None]])
    # The residual of a least-squares fit is orthogonal to the features
    # (up to the small ridge term).
    grad = design.T @ (got - target) / len(x)
    assert np.abs(grad).max() < 0.02 * np.abs(design.T @ target).max() / len(x)
    summed = lighten.gap_head(model).get_layer("fc1")
    base = design @ np.concatenate([summed.kernel.numpy(), summed.bias[None]])
    assert np.mean((got - target) ** 2) < np.mean((base - target) ** 2)


def test_data_fit_takes_datasets_and_sequential_models():
    import tensorflow as tf

    seq = _sequential()
    x = helpers.images(batch=32, shape=(6, 6, 2))
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(32))).batch(8)
    from_ds = lighten.gap_head(seq, data=ds, num_calibration_steps=4)
    from_array = lighten.gap_head(seq, data=x)
    np.testing.assert_allclose(from_ds(x), from_array(x), rtol=1e-4, atol=1e-5)
    # Only the first batch: a different fit.
    one = lighten.gap_head(seq, data=ds, num_calibration_steps=1)
    assert not np.allclose(
        one.get_layer("d").kernel, from_ds.get_layer("d").kernel
    )


def test_data_fit_bad_arguments():
    model = helpers.vgg_like()
    with pytest.raises(TypeError, match="`data`"):
        lighten.gap_head(model, data=42)
    with pytest.raises(ValueError, match="`data`.*rank"):
        lighten.gap_head(model, data=[np.zeros((2, 3))])
    with pytest.raises(ValueError, match="num_calibration_steps"):
        lighten.gap_head(model, data=helpers.images(), num_calibration_steps=0)
    config, weights = model.get_config(), helpers.weights_of(model)
    lighten.gap_head(model, data=helpers.images(batch=16))
    helpers.assert_unchanged(model, config, weights)


@pytest.mark.parametrize("sequential", [False, True])
def test_a_flatten_of_the_model_input_is_not_a_head(sequential):
    # An MLP on 28x28 images: replacing its Flatten would average the rows.
    layers = [
        keras.layers.Flatten(name="pixels"),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(3),
    ]
    if sequential:
        mlp = keras.Sequential([keras.Input((28, 28)), *layers])
    else:
        inputs = keras.Input((28, 28))
        x = inputs
        for layer in layers:
            x = layer(x)
        mlp = keras.Model(inputs, x)
    with pytest.raises(ValueError, match="input itself is not a head"):
        lighten.gap_head(mlp)
    with pytest.raises(ValueError, match="candidates are \\[\\]"):
        lighten.gap_head(mlp, layers=["pixels"])


def test_a_feature_map_head_is_replaced_beside_a_flattened_input():
    image = keras.Input((6, 6, 2), name="image")
    meta = keras.Input((4, 3), name="meta")
    x = keras.layers.Conv2D(4, 3, name="conv")(image)
    x = keras.layers.Flatten(name="head_flatten")(x)
    x = keras.layers.Dense(2, name="image_logits")(x)
    m = keras.layers.Flatten(name="meta_flatten")(meta)
    m = keras.layers.Dense(2, name="meta_logits")(m)
    model = keras.Model([image, meta], keras.layers.Add()([x, m]))
    light = lighten.gap_head(model)
    names = [layer.name for layer in light.layers]
    assert "meta_flatten" in names and "head_flatten" not in names
