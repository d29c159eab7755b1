"""`--labels`, `--normalization` and the signature flags of
`tf-compact compress` and `export-tflite`."""

import keras
import pytest
import tensorflow as tf
from absl import app
from absl.testing import flagsaver

from tf_compact import lite
from tf_compact.cli import app_flags
from tf_compact.cli import export_tflite


def test_flag_values_become_export_settings(tmp_path):
    names = tmp_path / "labels.txt"
    names.write_text("ant\nbee\n\ncat\n")
    settings = app_flags.app_metadata_settings
    assert settings("auto", "auto") == {
        "labels": "auto",
        "normalization": "auto",
    }
    assert settings("none", "None") == {"labels": None, "normalization": None}
    assert settings(str(names), "0,255") == {
        "labels": ["ant", "bee", "cat"],
        "normalization": [[0.0], [255.0]],
    }
    per_channel = settings("none", "0.5:0.4:0.3,0.2:0.2:0.2")
    assert per_channel["normalization"] == [[0.5, 0.4, 0.3], [0.2] * 3]
    with pytest.raises(ValueError, match="cannot read the label file"):
        settings(str(tmp_path / "missing.txt"), "auto")
    with pytest.raises(ValueError, match="MEAN,STD"):
        settings("auto", "0.5")
    with pytest.raises(ValueError, match="MEAN,STD"):
        settings("auto", "a,b")


def _model(path):
    inputs = keras.Input((8, 8, 1), name="pixels")
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    model.save(path)


def test_export_writes_signature_names_and_metadata(tmp_path, capsys):
    model_path = str(tmp_path / "m.keras")
    _model(model_path)
    labels = tmp_path / "labels.txt"
    labels.write_text("ant\nbee\ncat\n")
    out = str(tmp_path / "m.tflite")
    with flagsaver.flagsaver(
        model_path=model_path,
        mode="float32",
        output=out,
        labels=str(labels),
        normalization="127.5,127.5",
        signature_key="classify",
        input_names=["image"],
        output_names=["scores"],
    ):
        export_tflite.main(["export_tflite"])
    assert "GPU delegate: compatible;" in capsys.readouterr().out
    meta = lite.read_metadata(out)
    assert meta.outputs[0].labels == ["ant", "bee", "cat"]
    assert (meta.inputs[0].mean, meta.inputs[0].std) == ([127.5], [127.5])
    with open(out, "rb") as f:
        interpreter = tf.lite.Interpreter(model_content=f.read())
    signature = interpreter.get_signature_list()
    assert signature == {
        "classify": {"inputs": ["image"], "outputs": ["scores"]}
    }


def test_export_refuses_labels_that_do_not_fit(tmp_path):
    model_path = str(tmp_path / "m.keras")
    _model(model_path)
    labels = tmp_path / "labels.txt"
    labels.write_text("ant\nbee\n")
    with (
        flagsaver.flagsaver(
            model_path=model_path,
            mode="float32",
            output=str(tmp_path / "m.tflite"),
            labels=str(labels),
            normalization="none",
        ),
        pytest.raises(app.UsageError, match="one label per unit") as error,
    ):
        export_tflite.main(["export_tflite"])
    # Worded for the command line: the flag, not the Python settings.
    assert str(error.value).startswith("--labels=")
    assert "tfc.methods" not in str(error.value)


def test_export_writes_no_labels_without_a_named_dataset(tmp_path):
    model_path = str(tmp_path / "m.keras")
    _model(model_path)
    out = str(tmp_path / "m.tflite")
    # --labels and --normalization left at `auto`, no --dataset: the
    # default dataset may not be the model's, so nothing is written.
    with flagsaver.flagsaver(model_path=model_path, mode="float32", output=out):
        export_tflite.main(["export_tflite"])
    assert lite.read_metadata(out) is None
