"""Tiny models shared by the lighten tests."""

import keras
import numpy as np


def vgg_like(input_shape=(12, 12, 3), name="vgg_like"):
    """Conv stack with a Flatten→Dropout→Dense→Dense head."""
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(
        8, 3, padding="same", activation="relu", name="conv2"
    )(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(5, 3, strides=2, name="conv3")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(0.3, name="drop")(x)
    x = keras.layers.Dense(7, activation="relu", name="fc1")(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def images(shape=(12, 12, 3), batch=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(batch,) + shape).astype("float32")


def weights_of(model):
    return [np.array(w) for w in model.get_weights()]


def assert_unchanged(model, config, weights):
    """The model still has the given config and weights."""
    assert model.get_config() == config
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def save_and_reload(model, tmp_path):
    path = str(tmp_path / "model.keras")
    model.save(path)
    return keras.saving.load_model(path)
