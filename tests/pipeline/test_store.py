"""Tests for the stage checkpoint store of `compress`."""

import json

import keras
import numpy as np
import pytest

from tf_compact.pipeline.store import StageStore


def _model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs))


def test_records_survive_a_new_store(tmp_path):
    store = StageStore(str(tmp_path), {"epochs": 2})
    store.finish("teacher", {"accuracy": np.float32(0.5)})
    again = StageStore(str(tmp_path), {"epochs": 2})
    assert again.done("teacher")
    assert again.record("teacher") == {"accuracy": 0.5}
    assert not again.done("slim")


def test_models_and_bytes_reload_from_disk(tmp_path):
    model = _model()
    store = StageStore(str(tmp_path), {})
    store.put_model("slim", model)
    store.put_bytes("model_int8.tflite", b"abc")
    again = StageStore(str(tmp_path), {})
    reloaded = again.model("slim")
    x = np.ones((1, 4), "float32")
    np.testing.assert_allclose(reloaded(x), model(x), atol=1e-6)
    assert again.bytes("model_int8.tflite") == b"abc"
    assert again.has_model("slim") and not again.has_model("student")


def test_different_settings_refuse_to_resume(tmp_path):
    StageStore(str(tmp_path), {"epochs": 2}).finish("teacher", {})
    with pytest.raises(ValueError, match=r"'epochs': \(2, 3\)"):
        StageStore(str(tmp_path), {"epochs": 3})


def test_resume_false_starts_over(tmp_path):
    StageStore(str(tmp_path), {"epochs": 2}).finish("teacher", {})
    store = StageStore(str(tmp_path), {"epochs": 3}, resume=False)
    assert not store.done("teacher")
    with open(tmp_path / "stages.json") as f:
        assert json.load(f)["settings"] == {"epochs": 3}


def test_in_memory_store_keeps_objects_and_writes_nothing(tmp_path):
    store = StageStore(None, {})
    model = _model()
    store.put_model("slim", model)
    store.put_bytes("a.tflite", b"x")
    assert store.model("slim") is model
    assert store.bytes("a.tflite") == b"x"
    assert store.path("a") is None
    assert store.write_json("r.json", {}) is None
    with pytest.raises(KeyError, match="student"):
        store.model("student")
