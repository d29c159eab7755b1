"""`convert` says what a file does not do that its mode suggests: a
dynamic-range file whose weights all stayed in float, an integer input
that keeps its own type under `inference_io`."""

import warnings

import keras
import numpy as np
import pytest

import tf_compact as tfc


def _cnn(dense_inputs, input_dtype="float32"):
    inputs = keras.Input((8, 8, 1), dtype=input_dtype, name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(dense_inputs, 3, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name="small")


def _convert(model, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tfc.lite.convert(model, **kwargs)
    return result, [str(w.message) for w in caught]


def _file_dtypes(result):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=bytes(result))
    return (
        np.dtype(interpreter.get_input_details()[0]["dtype"]).name,
        np.dtype(interpreter.get_output_details()[0]["dtype"]).name,
    )


def test_a_dynamic_file_whose_weights_all_stayed_float_says_so():
    # conv 3*3*1*4 = 36 and Dense 4*10 = 40 weights: under 1024 each.
    result, warned = _convert(_cnn(4), mode="dynamic")
    assert not any(
        "int8" in op.input_dtypes for op in tfc.lite.read_ops(result)
    )
    [note] = [n for n in result.notes if "mode='dynamic'" in n]
    assert "kept every weight of model 'small' in float32" in note
    assert "from 1024 elements on" in note
    assert "mode='int8'" in note and "mode='float16'" in note
    assert any(w.startswith("mode='dynamic' kept every weight") for w in warned)


def test_a_dynamic_file_with_int8_weights_has_no_such_note():
    # Dense 128*10 = 1280 weights: quantized.
    result, warned = _convert(_cnn(128), mode="dynamic")
    assert any("int8" in op.input_dtypes for op in tfc.lite.read_ops(result))
    assert not any("mode='dynamic'" in n for n in result.notes)
    assert not any("kept every weight" in w for w in warned)


@pytest.fixture(scope="module")
def uint8_model():
    return _cnn(4, input_dtype="uint8")


def _images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(32, 8, 8, 1)).astype("uint8")


def test_an_integer_input_keeps_its_type_under_another_inference_io(
    uint8_model,
):
    result, _ = _convert(
        uint8_model,
        mode="int8",
        representative_data=_images(),
        inference_io="int8",
    )
    assert _file_dtypes(result) == ("uint8", "int8")
    [note] = [n for n in result.notes if "keeps that type" in n]
    assert note.startswith("input 'image' is uint8 in the Keras model")
    assert "inference_io='int8' applies to float inputs only" in note


@pytest.mark.parametrize("inference_io", ["uint8", "float32"])
def test_no_note_when_the_input_type_is_what_was_asked_or_float_io(
    uint8_model, inference_io
):
    result, _ = _convert(
        uint8_model,
        mode="int8",
        representative_data=_images(),
        inference_io=inference_io,
    )
    assert _file_dtypes(result)[0] == "uint8"
    assert not any("keeps that type" in n for n in result.notes)
