"""Models with several inputs: the order of a list of input arrays, dict
inputs, and calibration arrays given as `model.fit` takes them."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.lite import helpers
from tf_compact.lite import verification
from tf_compact.lite.edgetpu_target import static_batch_model
from tf_compact.lite.input_order import read_input_order


def _same_shape_pair(structure="list"):
    """Two (8, 8, 1) inputs whose names sort against the Keras order."""
    keras.utils.set_random_seed(0)
    zeta = keras.Input((8, 8, 1), name="zeta")
    alpha = keras.Input((8, 8, 1), name="alpha")
    h = keras.layers.Conv2D(4, 3, name="conv")(zeta)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    g = keras.layers.Flatten(name="flat")(alpha)
    h = keras.layers.Concatenate(name="cat")([h, g])
    out = keras.layers.Dense(3, name="logits")(h)
    inputs = {"zeta": zeta, "alpha": alpha} if structure == "dict" else None
    return keras.Model(inputs or [zeta, alpha], out, name="pair")


def _image_and_meta():
    """An (8, 8, 1) image and a (4,) vector, built on a dict."""
    keras.utils.set_random_seed(1)
    image = keras.Input((8, 8, 1), name="image")
    meta = keras.Input((4,), name="meta")
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(image)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    m = keras.layers.Dense(4, activation="relu", name="fc")(meta)
    h = keras.layers.Concatenate(name="cat")([h, m])
    out = keras.layers.Dense(3, name="logits")(h)
    return keras.Model({"image": image, "meta": meta}, out, name="two")


def _arrays(n=32, seed=0):
    rng = np.random.default_rng(seed)
    first = rng.uniform(size=(n, 8, 8, 1)).astype(np.float32)
    second = rng.uniform(size=(n, 8, 8, 1)).astype(np.float32)
    return first, second


def _meta(n=32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)


def _raw_tflite(model):
    """The TFLite converter's own file: it records no input order."""
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def test_a_list_of_inputs_is_read_in_the_keras_order():
    model = _same_shape_pair()
    first, second = _arrays()
    expected = np.asarray(model([first, second], training=False))
    labels = expected.argmax(-1)
    tflite = tfc.lite.convert(model)
    assert read_input_order(tflite) == ["zeta", "alpha"]
    for x in ([first, second], (first, second)):
        got = tfc.lite.predict(tflite, x)
        np.testing.assert_allclose(got, expected, atol=1e-4)
        assert tfc.lite.accuracy_of(tflite, (x, labels)) == 1.0
    bench = tfc.lite.benchmark(
        tflite, runs=1, warmup=0, dataset=([first, second], labels)
    )
    assert bench.accuracy == 1.0
    by_name = {"zeta": first, "alpha": second}
    np.testing.assert_allclose(
        tfc.lite.predict(tflite, by_name), expected, atol=1e-4
    )


def test_the_order_survives_new_input_names_and_metadata():
    model = _same_shape_pair()
    first, second = _arrays(8)
    expected = np.asarray(model([first, second], training=False))
    renamed = tfc.lite.convert(
        model,
        input_names=["z_image", "a_noise"],
        normalization={"a_noise": (0.0, 1.0)},
    )
    assert not [n for n in renamed.notes if n.startswith("signature ")]
    assert read_input_order(renamed) == ["z_image", "a_noise"]
    got = tfc.lite.predict(renamed, [first, second])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    again = tfc.lite.set_signature(
        tfc.lite.convert(model), input_names={"alpha": "b", "zeta": "y"}
    )
    assert read_input_order(again) == ["y", "b"]
    got = tfc.lite.predict(again, [first, second])
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_a_dict_input_model_records_its_keras_order():
    model = _same_shape_pair("dict")
    first, second = _arrays(8)
    expected = np.asarray(
        model({"zeta": first, "alpha": second}, training=False)
    )
    tflite = tfc.lite.convert(model)
    # `model.inputs` takes a dict of inputs in the order of its keys.
    assert read_input_order(tflite) == ["alpha", "zeta"]
    got = tfc.lite.predict(tflite, [second, first])
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_a_list_is_refused_where_the_file_records_no_order():
    model = _same_shape_pair()
    first, second = _arrays(8)
    raw = _raw_tflite(model)
    assert read_input_order(raw) is None
    with pytest.raises(ValueError, match="Expected a dict keyed by input name"):
        tfc.lite.predict(raw, [first, second])
    expected = np.asarray(model([first, second], training=False))
    got = tfc.lite.predict(raw, {"zeta": first, "alpha": second})
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_a_list_is_matched_by_shape_where_the_file_records_no_order():
    keras.utils.set_random_seed(2)
    image = keras.Input((8, 8, 1), name="zimg")
    vector = keras.Input((4,), name="avec")
    h = keras.layers.GlobalAveragePooling2D()(image)
    h = keras.layers.Concatenate()([h, vector])
    model = keras.Model([image, vector], keras.layers.Dense(3)(h))
    first, _ = _arrays(8)
    meta = _meta(8)
    expected = np.asarray(model([first, meta], training=False))
    got = tfc.lite.predict(_raw_tflite(model), [first, meta])
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("form", ["dict_y", "tuple_y", "dict_y_weights"])
def test_int8_calibrates_on_arrays_as_fit_takes_them(form):
    model = _image_and_meta()
    first, _ = _arrays(16)
    meta = _meta(16)
    y = np.zeros(16, np.int32)
    x = {"image": first, "meta": meta}
    data = {
        "dict_y": (x, y),
        "tuple_y": ((first, meta), y),
        "dict_y_weights": (x, y, np.ones(16, np.float32)),
    }[form]
    result = tfc.lite.convert(model, "int8", representative_data=data)
    assert result.argmax_agreement is not None
    assert result.argmax_agreement >= 0.5


@pytest.mark.parametrize(
    "form, message",
    [
        ("other_keys", r"keyed by the model's input names.*'extra', 'image'"),
        ("no_channel_axis", r"of ranks \[4, 2\].*\[\(16, 8, 8\), \(16, 4\)\]"),
    ],
)
def test_int8_refuses_arrays_of_several_inputs_that_do_not_fit(form, message):
    model = _image_and_meta()
    first, _ = _arrays(16)
    x = {
        "other_keys": {"image": first, "extra": _meta(16)},
        "no_channel_axis": (first[..., 0], _meta(16)),
    }[form]
    with pytest.raises(ValueError, match=message):
        tfc.lite.convert(
            model, "int8", representative_data=(x, np.zeros(16, np.int32))
        )


def test_edgetpu_target_rebuilds_a_dict_input_model():
    model = _image_and_meta()
    first, _ = _arrays(16)
    data = {"image": first, "meta": _meta(16)}
    result = tfc.lite.convert(
        model, "int8", representative_data=data, target="edgetpu"
    )
    assert result.edgetpu is not None
    assert result.argmax_agreement is not None
    interpreter, _ = tfc.lite.make_interpreter(result)
    batches = {int(d["shape"][0]) for d in interpreter.get_input_details()}
    assert batches == {1}
    static = static_batch_model(model)
    assert sorted(static.input) == ["image", "meta"]


def test_dict_keys_other_than_the_input_names_are_refused_up_front():
    image = keras.Input((8, 8, 1), name="img_in")
    meta = keras.Input((4,), name="aux_in")
    h = keras.layers.GlobalAveragePooling2D()(image)
    h = keras.layers.Concatenate()([h, meta])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns about the keys too
        model = keras.Model(
            {"photo": image, "extra": meta}, keras.layers.Dense(3)(h)
        )
    with pytest.raises(ValueError) as info:
        tfc.lite.convert(model)
    message = str(info.value)
    assert "keys ['aux_in', 'img_in']" in message
    assert "Received: keys ['extra', 'photo']" in message
    assert len(message) < 500


def test_verification_feeds_a_dict_input_model_a_dict():
    model = _image_and_meta()
    first, _ = _arrays(8)
    data = {"image": first, "meta": _meta(8)}
    result = tfc.lite.convert(model, verify=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        verification.compare_with_keras(result, model, data, "auto")
    structure = [w for w in caught if "structure" in str(w.message)]
    assert structure == []
    assert result.max_abs_diff < 1e-4


@pytest.mark.parametrize(
    "data, hint",
    [
        (helpers.images(16)[..., 0], "the channels"),
        (helpers.images(1)[0], "without the batch axis"),
        ((helpers.images(16)[..., 0], np.zeros(16, np.int32)), "x\\[None\\]"),
    ],
    ids=["no_channel_axis", "one_sample", "x_y_no_channel_axis"],
)
def test_int8_refuses_a_calibration_array_of_the_wrong_rank(data, hint):
    model = helpers.tiny_cnn()
    with pytest.raises(ValueError, match=r"representative_data") as info:
        tfc.lite.convert(model, "int8", representative_data=data)
    assert not isinstance(info.value, tfc.lite.ConversionError)
    assert "Expected an array of rank 4" in str(info.value)
    assert hint.replace("\\", "") in str(info.value)


def test_converting_a_dict_input_model_warns_about_no_input_structure():
    # TensorFlow's converter traces the model with a list; Keras's warning
    # about it says nothing the user can act on.
    model = _image_and_meta()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tfc.lite.convert(model)
    assert [w for w in caught if "structure" in str(w.message)] == []
    assert result.path_used == "from_keras_model"
    assert result.max_abs_diff < 1e-4
