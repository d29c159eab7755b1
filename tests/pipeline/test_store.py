"""Tests for the stage checkpoint store of `compress`."""

import json
import os

import keras
import numpy as np
import pytest

from tf_compact.pipeline.run_settings import export_settings
from tf_compact.pipeline.store import SettingsMismatchError
from tf_compact.pipeline.store import StageStore

EXPORT = {"tflite": ("tflite_modes",), "benchmark": ("num_threads",)}
SETTINGS = {"epochs": 2, "tflite_modes": ["int8"], "num_threads": 1}


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
    store.begin("slim")
    store.put_model("slim", model)
    store.put_bytes("model_int8.tflite", b"abc")
    store.finish("slim", {})
    again = StageStore(str(tmp_path), {})
    reloaded = again.model("slim")
    x = np.ones((1, 4), "float32")
    np.testing.assert_allclose(reloaded(x), model(x), atol=1e-6)
    assert again.bytes("model_int8.tflite") == b"abc"
    assert again.has_model("slim") and not again.has_model("student")


def test_a_file_this_run_did_not_write_is_not_its_model(tmp_path):
    _model().save(str(tmp_path / "student.keras"))
    (tmp_path / "model_int8.tflite").write_bytes(b"other")
    store = StageStore(str(tmp_path), {})
    assert not store.has_model("student")
    with pytest.raises(KeyError, match="student"):
        store.model("student")
    with pytest.raises(KeyError, match="model_int8"):
        store.bytes("model_int8.tflite")


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


def _finished_run(out):
    store = StageStore(out, SETTINGS, export_settings=EXPORT)
    for stage in ("teacher", "slim", "tflite", "benchmark"):
        store.begin(stage)
        if stage == "tflite":
            store.put_bytes("model_int8.tflite", b"int8")
        store.finish(stage, {})


@pytest.mark.parametrize(
    "change, again",
    [
        ({"tflite_modes": ["float32"]}, ["tflite", "benchmark"]),
        ({"num_threads": 2}, ["benchmark"]),
    ],
)
def test_export_settings_alone_run_the_export_stages_again(
    change, again, tmp_path
):
    _finished_run(str(tmp_path))
    (tmp_path / "model_float16.tflite").write_bytes(b"left by a failure")
    said = []
    settings = dict(SETTINGS, **change)
    store = StageStore(
        str(tmp_path), settings, log=said.append, export_settings=EXPORT
    )
    kept = ["teacher", "slim", "tflite"][: 4 - len(again)]
    assert list(store.records()) == kept
    assert len(said) == 1 and f"stages {again} run again" in said[0]
    assert str(next(iter(change))) in said[0]
    # The files of the stages that run again go (and TFLite files a
    # failed attempt left unrecorded); the new settings stay.
    assert os.path.exists(tmp_path / "model_int8.tflite") == (
        "tflite" not in again
    )
    assert not os.path.exists(tmp_path / "model_float16.tflite")
    with open(tmp_path / "stages.json") as f:
        assert json.load(f)["settings"] == settings


def test_a_rerun_removes_only_the_pipelines_own_tflite_files(tmp_path):
    _finished_run(str(tmp_path))
    # The user's own file, e.g. what `export-tflite` writes next to the
    # model by default.
    (tmp_path / "slim_finetuned_int8.tflite").write_bytes(b"the user's")
    said = []
    settings = dict(SETTINGS, tflite_modes=["float32", "int8"])
    StageStore(str(tmp_path), settings, log=said.append, export_settings=EXPORT)
    assert (tmp_path / "slim_finetuned_int8.tflite").read_bytes() == (
        b"the user's"
    )
    assert not os.path.exists(tmp_path / "model_int8.tflite")
    # What the rerun removed is named in the log, and nothing else.
    assert "removed their earlier files ['model_int8.tflite']" in said[0]
    assert "slim_finetuned_int8" not in said[0]


def test_export_and_training_settings_changed_refuse_to_resume(tmp_path):
    _finished_run(str(tmp_path))
    settings = dict(SETTINGS, epochs=3, tflite_modes=["float32"])
    with pytest.raises(SettingsMismatchError, match="resume=False") as info:
        StageStore(str(tmp_path), settings, export_settings=EXPORT)
    assert set(info.value.changed) == {"epochs", "tflite_modes"}
    # Without export settings named, any change refuses, as before.
    with pytest.raises(SettingsMismatchError, match="'num_threads'"):
        StageStore(str(tmp_path), dict(SETTINGS, num_threads=2))


def test_num_threads_is_no_export_setting_under_a_latency_budget():
    names = ["slim", "tflite", "benchmark"]
    assert export_settings({}, names)["benchmark"] == (
        "num_threads",
        "benchmark_runs",
    )
    latency = export_settings({"target_latency": 2.0}, names)
    assert latency["benchmark"] == ("benchmark_runs",)
    # Only the stages the run has: without them, nothing is exempt.
    assert export_settings({}, ["slim", "finetune"]) == {}
