"""--import: modules imported before a model file is loaded."""

import importlib
import sys

import keras
import pytest
from absl import app
from absl.testing import flagsaver

from tf_compact.cli import common_flags
from tf_compact.cli import export_tflite

_LAYERS = """
import keras


@keras.saving.register_keras_serializable(package="tfc_test")
class Swish3(keras.layers.Layer):
    def call(self, x):
        return x * keras.ops.sigmoid(3.0 * x)
"""


@pytest.fixture
def custom_model(tmp_path, monkeypatch):
    """A .keras file with a custom layer whose module is not imported,
    and `tfc_test_layers.py` defining it in the current directory."""
    (tmp_path / "tfc_test_layers.py").write_text(_LAYERS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    layers = importlib.import_module("tfc_test_layers")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Swish3()(keras.layers.Dense(3)(inputs)))
    model.save(tmp_path / "custom.keras")
    # As in a fresh `tf-compact` process: the class is unknown.
    monkeypatch.setattr(sys, "path", sys.path[1:])
    monkeypatch.delitem(sys.modules, "tfc_test_layers")
    monkeypatch.delitem(keras.saving.get_custom_objects(), "tfc_test>Swish3")
    return str(tmp_path / "custom.keras")


def test_import_flag_registers_custom_layers(custom_model, monkeypatch):
    with pytest.raises(app.UsageError) as error:
        common_flags.load_keras_model("model_path", custom_model)
    message = str(error.value)
    assert "Could not locate class 'Swish3'" in message
    assert "--import=MODULE" in message and "\n" not in message
    with flagsaver.flagsaver(**{"import": ["tfc_test_layers"]}):
        model = common_flags.load_keras_model("model_path", custom_model)
    assert type(model.layers[-1]).__name__ == "Swish3"


def test_a_module_that_cannot_be_imported_is_a_usage_error(custom_model):
    flags_set = {"import": ["no_such_module_xyz"], "model_path": custom_model}
    with (
        flagsaver.flagsaver(**flags_set),
        pytest.raises(app.UsageError) as error,
    ):
        export_tflite.main(["export_tflite"])
    message = str(error.value)
    assert message.startswith("--import=no_such_module_xyz: cannot import")
    assert "ModuleNotFoundError" in message and "\n" not in message
