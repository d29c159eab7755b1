"""int8 calibration data already scaled for a model that scales its own
inputs is warned about."""

import warnings

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tf_compact.lite.input_range import input_spans
from tf_compact.lite.input_scale import leading_rescaling
from tf_compact.lite.input_scale import warn_if_prescaled


def _model(first=None):
    inputs = keras.Input((8, 8, 1))
    x = inputs
    if first is not None:
        for layer in first:
            x = layer(x)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _pixels(scale=1.0):
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, size=(16, 8, 8, 1)) * scale).astype("float32")


def test_the_leading_rescaling_is_found_past_augmentation():
    rescale = keras.layers.Rescaling(1 / 255, name="rescale")
    model = _model([keras.layers.RandomFlip(), rescale])
    assert leading_rescaling(model) is model.get_layer("rescale")
    assert leading_rescaling(_model()) is None
    later = _model([keras.layers.Conv2D(1, 1), keras.layers.Rescaling(2.0)])
    assert leading_rescaling(later) is None


def test_the_leading_rescaling_is_found_inside_a_preprocessing_block():
    rescale = keras.layers.Rescaling(1 / 255, name="rescale")
    block = keras.Sequential([keras.layers.RandomFlip(), rescale])
    assert leading_rescaling(_model([block])) is rescale
    flips = keras.Sequential([keras.layers.RandomFlip()])
    assert leading_rescaling(_model([flips, rescale])) is rescale
    other = keras.Sequential([keras.layers.Conv2D(1, 1), rescale])
    assert leading_rescaling(_model([other])) is None


@pytest.mark.parametrize(
    "scale, offset, data_scale, warned",
    [
        (1 / 255, 0.0, 1 / 255, True),  # pixels divided twice
        (1 / 127.5, -1.0, 1 / 255, True),
        (1 / 255, 0.0, 1.0, False),  # raw pixels, as the model takes them
        (1.0, 0.0, 1 / 255, False),  # the model does not divide
    ],
)
def test_prescaled_data_is_named(scale, offset, data_scale, warned):
    model = _model([keras.layers.Rescaling(scale, offset=offset)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_prescaled(model, _pixels(data_scale))
    messages = [str(w.message) for w in caught]
    assert bool(messages) == warned
    if warned:
        assert "look scaled already" in messages[0]


def test_int8_conversion_warns_before_calibrating_on_prescaled_data():
    model = _model([keras.layers.Rescaling(1 / 255)])
    with pytest.warns(UserWarning, match="look scaled already"):
        tfc.lite.convert(model, "int8", representative_data=_pixels(1 / 255))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tfc.lite.convert(model, "int8", representative_data=_pixels())


def test_accuracy_on_divided_pixels_of_a_raw_pixel_model_is_warned_about():
    model = _model([keras.layers.Rescaling(1 / 255)])
    for inference_io in ("float32", "uint8"):
        tflite = tfc.lite.convert(
            model,
            "int8",
            representative_data=_pixels(),
            inference_io=inference_io,
        )
        labels = np.zeros(16, "int64")
        with pytest.warns(UserWarning, match="look divided already"):
            tfc.lite.accuracy_of(tflite, (_pixels(1 / 255), labels))
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            tfc.lite.accuracy_of(tflite, (_pixels(), labels))
    # Calibrated on divided pixels, the same data raise nothing.
    divided = tfc.lite.convert(
        model, "int8", representative_data=_pixels(1 / 255), verify=False
    )
    assert input_spans(tfc.lite.make_interpreter(divided)[0])[0] < 20
