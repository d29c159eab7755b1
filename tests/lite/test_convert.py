"""tfc.lite.convert: modes, parity with Keras, errors."""

import pickle

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.lite import helpers
from tf_compact.lite import verification_checks


def test_float32_parity_with_keras():
    model = helpers.tiny_cnn(softmax=False)
    x = helpers.images(16, seed=1)
    tflite = tfc.lite.convert(model, mode="float32")
    assert tflite.path_used == "from_keras_model"
    assert tflite.max_abs_diff <= 1e-4
    got = tfc.lite.predict(tflite, x)
    want = np.asarray(model(x, training=False))
    assert np.max(np.abs(got - want)) <= 1e-4


def test_float32_check_is_relative_to_the_output_scale():
    model = helpers.tiny_cnn(softmax=False)
    last = model.layers[-1]
    kernel, *rest = last.get_weights()
    last.set_weights([kernel * 1e5, *rest])
    tflite = tfc.lite.convert(model, mode="float32")
    scale = np.max(np.abs(model(helpers.images(4, seed=2), training=False)))
    assert scale > 1e3
    assert tflite.max_abs_diff <= tfc.lite.FLOAT_TOLERANCE * scale


def test_convert_does_not_touch_the_model():
    model = helpers.tiny_cnn()
    before = [w.copy() for w in model.get_weights()]
    tfc.lite.convert(model, mode="int8", representative_data=helpers.images())
    after = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_float16_and_dynamic_shrink_the_file():
    model = helpers.wide_mlp()
    sizes = {
        mode: len(tfc.lite.convert(model, mode=mode))
        for mode in ("float32", "float16", "dynamic")
    }
    assert sizes["float16"] < 0.6 * sizes["float32"]
    assert sizes["dynamic"] < 0.35 * sizes["float32"]


def test_int8_with_integer_io_is_full_integer():
    model = helpers.wide_mlp()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 64)).astype(np.float32)
    for io, dtype in (("int8", np.int8), ("uint8", np.uint8)):
        tflite = tfc.lite.convert(
            model, "int8", representative_data=x, inference_io=io
        )
        interpreter, _ = tfc.lite.make_interpreter(tflite)
        assert interpreter.get_input_details()[0]["dtype"] == dtype
        assert interpreter.get_output_details()[0]["dtype"] == dtype
        assert tflite.argmax_agreement >= 0.9
        assert not tfc.lite.read_ops(tflite)[0].is_float
    assert len(tflite) < 0.35 * len(tfc.lite.convert(model))


def test_int8_accepts_a_dataset_of_pairs():
    x = helpers.images(32)
    ds = tf.data.Dataset.from_tensor_slices((x, helpers.labels_for(x)))
    tflite = tfc.lite.convert(
        helpers.tiny_cnn(), "int8", representative_data=ds.batch(4)
    )
    assert tflite.mode == "int8"
    assert tflite.argmax_agreement is not None


def test_int8_accepts_a_tuple_of_arrays():
    x = helpers.images(32)
    one_hot = np.eye(3, dtype=np.float32)[np.arange(32) % 3]
    for data in ((x, helpers.labels_for(x)), (x, one_hot)):
        tflite = tfc.lite.convert(
            helpers.tiny_cnn(), "int8", representative_data=data
        )
        assert tflite.argmax_agreement is not None


@pytest.mark.parametrize("y_shape", [(16,), (16, 6), (16, 6, 6, 1)])
def test_calibration_reads_x_alone_of_an_x_y_tuple(y_shape):
    # Labels of any shape, even the shape of the inputs (a mask, a
    # regression target), are never calibrated on.
    from tf_compact.internal.input_batches import as_batches

    x = np.ones((16, 6, 6, 1), np.float32)
    y = np.full(y_shape, 7.0, np.float32)
    for data in ((x, y), (x, y, np.ones(16, np.float32))):
        steps = list(as_batches(data, input_rank=4))
        assert len(steps) == 16
        assert all(step.shape == (1, 6, 6, 1) for step in steps)
        assert all((step == 1.0).all() for step in steps)


def test_int8_with_fewer_rows_than_a_static_batch_says_so():
    inputs = keras.Input((8, 8, 1), batch_size=8)
    x = keras.layers.Conv2D(2, 3)(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    rows = np.zeros((4, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match="at least 8 rows.*Received: 4 rows"):
        tfc.lite.convert(model, "int8", representative_data=rows)


def test_int8_refuses_calibration_data_of_another_shape():
    wrong = np.zeros((4, 9, 9, 1), np.float32)
    with pytest.raises(ValueError, match=r"\(None, 8, 8, 1\).*\(1, 9, 9, 1\)"):
        tfc.lite.convert(helpers.tiny_cnn(), "int8", representative_data=wrong)


def test_int8_without_representative_data_is_an_error():
    with pytest.raises(ValueError, match="representative_data"):
        tfc.lite.convert(helpers.tiny_cnn(), mode="int8")


class _Cos(keras.layers.Layer):
    def call(self, x):
        return keras.ops.cos(x)


class _Det(keras.layers.Layer):
    def call(self, x):
        return tf.linalg.det(x)


def test_unquantizable_op_is_named_with_its_layer():
    inputs = keras.Input((4,))
    hidden = _Cos(name="my_cos")(keras.layers.Dense(4, name="d1")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, name="d2")(hidden))
    x = np.random.default_rng(0).uniform(size=(16, 4)).astype(np.float32)
    with pytest.raises(tfc.lite.QuantizationError, match="my_cos") as info:
        tfc.lite.convert(model, "int8", representative_data=x)
    assert ("COS", "my_cos") in info.value.ops
    assert len(tfc.lite.convert(model, "dynamic")) > 0


def test_unconvertible_op_is_named_with_its_layer():
    inputs = keras.Input((4, 4))
    outputs = _Det(name="my_det")(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, outputs)
    with pytest.raises(tfc.lite.ConversionError) as info:
        tfc.lite.convert(model)
    assert "MatrixDeterminant" in str(info.value)
    assert "my_det" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"mode": "int4"}, ValueError),
        ({"inference_io": "int16"}, ValueError),
        ({"mode": "float16", "inference_io": "uint8"}, ValueError),
        ({"mode": "qat"}, ValueError),
    ],
)
def test_invalid_arguments(kwargs, error):
    with pytest.raises(error, match="Received"):
        tfc.lite.convert(helpers.tiny_cnn(), **kwargs)


def test_not_a_model():
    with pytest.raises(TypeError, match="Received: type=str"):
        tfc.lite.convert("model.keras")


def test_output_path_and_result_serialization(tmp_path):
    path = tmp_path / "sub" / "m.tflite"
    tflite = tfc.lite.convert(helpers.tiny_cnn(), output_path=path)
    assert path.read_bytes() == bytes(tflite)
    assert tflite.output_path == str(path)
    tflite.bn_recalibration = {"model": {"batches": 4}, "teacher": None}
    clone = tfc.lite.ConversionResult.from_config(tflite.get_config())
    assert clone.bn_recalibration == tflite.bn_recalibration
    assert bytes(clone) == bytes(tflite)
    assert clone.info() == tflite.info()
    unpickled = pickle.loads(pickle.dumps(tflite))
    assert unpickled.info() == tflite.info()
    assert bytes(unpickled) == bytes(tflite)


def test_slimmed_model_converts_and_matches():
    full = helpers.tiny_cnn(width=8, softmax=False)
    graph = tfc.ChannelGraph(full)
    masks = {g.name: np.arange(g.size) % 2 == 0 for g in graph.groups}
    slim = tfc.slim(full, masks, graph=graph)
    tflite = tfc.lite.convert(slim)
    assert tflite.max_abs_diff <= 1e-4
    assert len(tflite) < len(tfc.lite.convert(full))
    int8 = tfc.lite.convert(slim, "int8", helpers.images(32))
    assert tfc.lite.edgetpu_report(int8).full_int8
    assert int8.max_abs_diff < 0.1


def test_int8_calibrates_and_verifies_a_uint8_input_model():
    # Calibration and verification feed the model's own input dtype: a
    # uint8 image input gets uint8 data, not float32.
    x = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 3), "uint8")
    i = keras.Input((8, 8, 3), dtype="uint8")
    h = keras.layers.Rescaling(1 / 255.0)(i)
    h = keras.layers.Conv2D(4, 3, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(i, keras.layers.Dense(3)(h))
    result = tfc.lite.convert(model, mode="int8", representative_data=x)
    interpreter, _ = tfc.lite.make_interpreter(result)
    assert interpreter.get_input_details()[0]["dtype"] == np.uint8
    assert result.max_abs_diff is not None
    assert result.max_abs_diff < 0.05
    expected = model.predict(x, verbose=0)
    got = tfc.lite.predict(result, x)
    assert np.max(np.abs(got - expected)) < 0.05


def test_a_recurrent_layer_that_cannot_convert_is_named_with_the_ways_out():
    inputs = keras.Input((12, 4))
    x = keras.layers.Conv1D(8, 3, padding="same")(inputs)
    x = keras.layers.Bidirectional(keras.layers.GRU(4), name="bi_gru")(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    with pytest.raises(tfc.lite.ConversionError) as info:
        tfc.lite.convert(model)
    message = str(info.value)
    assert "recurrent layers ['bi_gru']" in message
    assert "unroll=True" in message and "batch_size=1" in message


def test_a_quantized_file_that_disagrees_with_its_model_is_flagged():
    # Outputs 1000 + 0.01 * x: int8 steps of ~8 erase every difference
    # between the classes, so the file's argmax no longer follows Keras's.
    inputs = keras.Input((3,))
    layer = keras.layers.Dense(3)
    model = keras.Model(inputs, layer(inputs))
    layer.kernel.assign(0.01 * np.eye(3, dtype="f4"))
    layer.bias.assign(np.full(3, 1000.0, "f4"))
    x = np.random.default_rng(0).uniform(size=(64, 3)).astype("f4")
    with pytest.warns(UserWarning, match="agree with model"):
        result = tfc.lite.convert(model, "int8", representative_data=x)
    assert result.argmax_agreement < verification_checks.LOW_AGREEMENT
    assert any("measure its accuracy" in note for note in result.notes)
    float_result = tfc.lite.convert(model, "float32", representative_data=x)
    assert float_result.argmax_agreement == 1.0
