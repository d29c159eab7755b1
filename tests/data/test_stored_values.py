"""A model taking raw integers is fed a bundle's stored values."""

import keras
import numpy as np
import pytest

from tf_compact import data
from tf_compact.data.stored_values import stored_values_for


def _model(dtype, scale=1 / 255.0):
    inputs = keras.Input((4, 4, 1), dtype=dtype)
    x = keras.layers.Rescaling(scale)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def test_a_model_that_divides_pixels_reads_the_stored_ones():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (12, 4, 4, 1)).astype("uint8")
    y = rng.integers(0, 2, 12).astype("int32")
    bundle = data.from_arrays(x, y, x_test=x, y_test=y, batch_size=4)
    assert bundle.scale == 1 / 255.0
    # A float model that does not divide its inputs takes them scaled.
    assert stored_values_for(bundle, _model("float32", 2.0)) is bundle
    divides = stored_values_for(bundle, _model("float32"))
    assert divides.scale is None
    np.testing.assert_array_equal(
        np.concatenate([b.numpy() for b, _ in divides.test]), x
    )
    stored = stored_values_for(bundle, _model("uint8"))
    assert stored.scale is None
    assert stored.class_names == bundle.class_names
    test = np.concatenate([b.numpy() for b, _ in stored.test])
    np.testing.assert_array_equal(test, x.astype("float32"))
    train = np.concatenate([b.numpy() for b, _ in stored.train])
    assert train.max() > 1 and np.all(train == np.round(train))
    # Data that is not a bundle is given back as it is.
    assert stored_values_for((x, y), _model("uint8"))[0] is x


def _threshold_model(threshold):
    """Rescaling(1/255), the mean pixel, and two logits: class 1 above
    `threshold` (in the model's own units, after the rescaling)."""
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(2)
    outputs = head(x)
    model = keras.Model(inputs, outputs)
    head.set_weights(
        [np.array([[-1.0, 1.0]]), np.array([threshold, -threshold])]
    )
    return model


def test_a_model_trained_on_scaled_pixels_keeps_them_with_a_warning():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 8).astype("int32")
    low = rng.integers(0, 50, (8, 4, 4, 1))
    high = rng.integers(200, 256, (8, 4, 4, 1))
    x = np.concatenate([low, high]).astype("uint8")
    bundle = data.from_arrays(x, y, x_test=x, y_test=y, batch_size=16)
    # Trained as Keras means it (raw pixels): given the stored pixels.
    raw_trained = _threshold_model(0.5)
    assert stored_values_for(bundle, raw_trained).scale is None
    # Trained on pixels already divided by 255: keeps them, and says so.
    with pytest.warns(UserWarning, match="trained on the scaled data"):
        kept = stored_values_for(bundle, _threshold_model(0.5 / 255))
    assert kept is bundle
