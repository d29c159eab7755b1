"""Parity of TFLite with Keras on the real Fashion-MNIST test set."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.lite import helpers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not helpers.has_fashion_mnist(),
        reason="Fashion-MNIST not installed (Debian dataset-fashion-mnist)",
    ),
]


def _small_cnn():
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=0.9),
            layers.ReLU(),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=0.9),
            layers.ReLU(),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(10),
        ],
        name="fmnist_cnn",
    )


@pytest.fixture(scope="module")
def trained():
    x_train, y_train = helpers.fashion_mnist("train")
    x_test, y_test = helpers.fashion_mnist("test")
    model = _small_cnn()
    model.compile(
        keras.optimizers.Adam(2e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0)
    return model, x_train, x_test, y_test


def test_float_and_int8_parity_on_the_test_set(trained):
    model, x_train, x_test, y_test = trained
    keras_out = model.predict(x_test, batch_size=500, verbose=0)
    assert np.mean(keras_out.argmax(-1) == y_test) > 0.8

    float_out = tfc.lite.predict(tfc.lite.convert(model), x_test)
    assert np.max(np.abs(float_out - keras_out)) <= 1e-4

    def int8_file(**kwargs):
        return tfc.lite.convert(
            model, "int8", representative_data=x_train[:500], **kwargs
        )

    int8 = int8_file(num_calibration_steps=500, inference_io="int8")
    int8_out = tfc.lite.predict(int8, x_test)
    agreement = np.mean(int8_out.argmax(-1) == keras_out.argmax(-1))
    assert agreement >= 0.99
    # With a dynamic batch, Flatten computes its shape in int32 ops, which
    # the Edge TPU cannot take; on batch-1 static shapes every tensor is
    # int8.
    dynamic = tfc.lite.edgetpu_report(int8)
    assert all(
        r["layer"].startswith("flatten") for r in dynamic.ops if not r["int8"]
    )
    assert not dynamic.static_shapes
    edgetpu = int8_file(num_calibration_steps=100, target="edgetpu")
    assert tfc.lite.edgetpu_report(edgetpu).full_int8
