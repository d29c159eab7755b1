"""convert(..., target="edgetpu"): batch-1 static int8 files and a report."""

import os
import stat
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.lite import helpers

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def flatten_net():
    """The 28x28 net whose dynamic batch made SHAPE/PACK ops."""
    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="d")(x), name="net")


def shapes(tflite):
    interpreter, _ = tfc.lite.make_interpreter(tflite)
    detail = interpreter.get_input_details()[0]
    return list(detail["shape"]), list(detail["shape_signature"])


def test_target_gives_static_batch_one_and_uint8_io():
    model = flatten_net()
    x = np.random.default_rng(0).uniform(size=(16, 28, 28, 1))
    x = x.astype("float32")
    plain = tfc.lite.convert(
        model, "int8", representative_data=x, inference_io="uint8"
    )
    assert shapes(plain)[1] == [-1, 28, 28, 1]
    assert not tfc.lite.edgetpu_report(plain, compiler=None).compatible

    result = tfc.lite.convert(
        model, "int8", representative_data=x, target="edgetpu"
    )
    assert result.inference_io == "uint8"
    assert shapes(result) == ([1, 28, 28, 1], [1, 28, 28, 1])
    ops = [row["op"] for row in result.edgetpu.ops]
    assert "SHAPE" not in ops and "PACK" not in ops
    assert result.edgetpu.compatible and result.edgetpu.static_shapes
    assert result.notes[-1] == result.edgetpu.summary()
    assert result.argmax_agreement is not None
    # The user's model keeps its dynamic batch.
    assert model.inputs[0].shape == (None, 28, 28, 1)


def test_target_rebuilds_a_model_with_a_lambda_layer():
    # The batch-1 rebuild clones the model, and Keras refuses to rebuild a
    # Lambda layer from its config in safe mode.
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.Lambda(lambda t: t * 0.5, name="half")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    x = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
    result = tfc.lite.convert(
        model, "int8", representative_data=x, target="edgetpu"
    )
    assert shapes(result)[0] == [1, 8, 8, 1]
    assert result.edgetpu.compatible and result.argmax_agreement == 1.0


def test_a_model_taking_uint8_pixels_maps_whole_and_takes_them_as_they_are():
    # Its CAST of the uint8 input to float does not map: the one cut sent
    # every op to the CPU.
    pixels = keras.Input((8, 8, 1), dtype="uint8", name="pixels")
    x = keras.layers.Rescaling(1 / 255.0)(pixels)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(pixels, keras.layers.Dense(3, name="logits")(x))
    raw = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 1))
    raw = raw.astype("uint8")
    result = tfc.lite.convert(
        model, "int8", representative_data=raw, target="edgetpu"
    )
    assert "CAST" not in [row["op"] for row in result.edgetpu.ops]
    assert result.edgetpu.compatible
    interpreter, _ = tfc.lite.make_interpreter(result)
    detail = interpreter.get_input_details()[0]
    scale, zero_point = detail["quantization"]
    assert detail["dtype"] == np.uint8 and zero_point == 0
    assert scale == pytest.approx(1.0, abs=0.01)
    lite = tfc.lite.predict(result, raw)
    keras_out = model.predict(raw, verbose=0)
    assert np.mean(lite.argmax(-1) == keras_out.argmax(-1)) >= 0.9
    assert model.inputs[0].dtype == "uint8"


def test_target_calibrates_on_batches_with_a_short_last_one():
    # A DatasetBundle's `train` ends on a short batch; the batch-1 clone is
    # calibrated on its rows one by one and the file keeps its static shapes.
    x = np.random.default_rng(0).uniform(size=(16, 28, 28, 1))
    data = tf.data.Dataset.from_tensor_slices(x.astype("float32")).batch(6)
    result = tfc.lite.convert(
        flatten_net(), "int8", representative_data=data, target="edgetpu"
    )
    assert result.path_used == "from_keras_model", result.notes
    assert shapes(result) == ([1, 28, 28, 1], [1, 28, 28, 1])
    assert result.edgetpu.compatible


def test_target_argument_errors():
    model = helpers.tiny_cnn()
    x = helpers.images(8)
    with pytest.raises(ValueError, match="target='edgetpu' needs a full"):
        tfc.lite.convert(model, "float32", target="edgetpu")
    with pytest.raises(ValueError, match="inference_io='float32'"):
        tfc.lite.convert(
            model,
            "int8",
            representative_data=x,
            inference_io="float32",
            target="edgetpu",
        )
    with pytest.raises(ValueError, match="target='coral'"):
        tfc.lite.convert(model, "int8", representative_data=x, target="coral")

    class Sub(keras.Model):
        def call(self, x):
            return x * 2.0

    sub = Sub()
    sub(np.zeros((1, 4), "float32"))
    with pytest.raises(ValueError, match="subclassed model"):
        tfc.lite.convert(sub, "int8", representative_data=x, target="edgetpu")
    inputs = keras.Input((None, 4))
    ragged = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match=r"\(None, None, 4\)"):
        tfc.lite.convert(
            ragged, "int8", representative_data=x, target="edgetpu"
        )


def test_target_runs_the_compiler_next_to_the_output(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "edgetpu_compiler"
    fixture = os.path.join(FIXTURES, "edgetpu_compiler_mapped.txt")
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, shutil, sys\n"
        "out, model = sys.argv[sys.argv.index('-o') + 1], sys.argv[-1]\n"
        "stem = os.path.basename(model)[: -len('.tflite')]\n"
        "shutil.copy(model, os.path.join(out, stem + '_edgetpu.tflite'))\n"
        f"print(open({fixture!r}).read())\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    output = tmp_path / "models" / "tiny_int8.tflite"
    result = tfc.lite.convert(
        helpers.tiny_cnn(),
        "int8",
        representative_data=helpers.images(16),
        output_path=output,
        target="edgetpu",
        verify=False,
    )
    compiled = tmp_path / "models" / "tiny_int8_edgetpu.tflite"
    assert result.edgetpu.compiler.output_model == str(compiled)
    assert compiled.read_bytes() == bytes(result)
    assert result.edgetpu.compatible
    assert "on-chip 88.25 KiB" in result.edgetpu.summary()


def test_a_fallback_that_loses_the_edge_tpu_says_why(monkeypatch):
    from tf_compact.lite import converter_run

    run = converter_run._run_converter

    def keras_path_fails(model, path, *args, **kwargs):
        if path == "from_keras_model":
            raise RuntimeError("calibration broke")
        return run(model, path, *args, **kwargs)

    monkeypatch.setattr(converter_run, "_run_converter", keras_path_fails)
    x = np.random.default_rng(0).uniform(size=(8, 28, 28, 1))
    with pytest.warns(UserWarning, match="from_keras_model failed") as info:
        result = tfc.lite.convert(
            flatten_net(),
            "int8",
            representative_data=x.astype("float32"),
            target="edgetpu",
        )
    assert result.path_used == "saved_model"
    assert not result.edgetpu.compatible
    assert "calibration broke" in str(info[0].message)
