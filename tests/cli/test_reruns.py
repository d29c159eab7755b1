"""Rerunning `tf-compact compress` into the same --output_dir, and what a
run prints there: the saved teacher, the resume check, the teacher check."""

import contextlib
import io
import json
import warnings

import numpy as np
import pytest
from absl import app
from absl.testing import flagsaver

from tf_compact.cli import compress
from tf_compact.cli import resources
from tf_compact.cli import teacher

#: A one-shot run on 64 images a split that trains nothing but the
#: teacher and converts to float32 only.
_RUN = {
    "limit": 64,
    "batch_size": 64,
    "epochs": 0,
    "finetune_epochs": 0,
    "method": "oneshot",
    "target_macs": "0.5",
    "tflite_mode": ["float32"],
}


@pytest.fixture
def teachers(monkeypatch):
    """Stands in for `tfc.compress`: lists the teachers it is given."""
    from tf_compact import pipeline

    given = []
    monkeypatch.setattr(
        pipeline, "compress", lambda model, *a, **k: given.append(model)
    )
    return given


def _compress(out, **changed):
    flags_set = {**_RUN, "teacher_epochs": 1, **changed}
    with flagsaver.flagsaver(**flags_set, output_dir=str(out)):
        compress.main(["compress"])


def test_compress_reuses_a_saved_teacher_only_with_the_same_settings(
    tmp_path, teachers
):
    _compress(tmp_path)
    _compress(tmp_path)
    trained, reused = teachers
    for a, b in zip(trained.get_weights(), reused.get_weights()):
        assert (a == b).all()
    for changed, differing in (
        ({"model": "vgg"}, "model 'small_cnn' -> 'vgg'"),
        ({"teacher_epochs": 2}, "epochs 1 -> 2"),
        ({"limit": 32}, "limit 64 -> 32"),
        ({"seed": 1}, "seed 0 -> 1"),
    ):
        with pytest.raises(app.UsageError) as error:
            _compress(tmp_path, **changed)
        message = str(error.value)
        assert differing in message
        assert f"--output_dir={tmp_path} holds a teacher trained" in message
        assert "--noresume" in message and "\n" not in message
        assert f"--teacher_path={tmp_path}/teacher.keras" in message
    assert len(teachers) == 2


def test_compress_noresume_trains_the_teacher_again(tmp_path, teachers):
    _compress(tmp_path)
    _compress(tmp_path, model="vgg", resume=False)
    assert [model.name for model in teachers] == ["small_cnn", "vgg"]
    with open(tmp_path / teacher.METRICS_FILE) as f:
        assert json.load(f)["settings"]["model"] == "vgg"
    # Recorded with it, the retrained teacher's settings now match.
    _compress(tmp_path, model="vgg")
    assert [model.name for model in teachers] == ["small_cnn", "vgg", "vgg"]


def test_a_teacher_without_recorded_settings_is_refused(tmp_path, teachers):
    _compress(tmp_path)
    path = tmp_path / teacher.METRICS_FILE
    metrics = json.loads(path.read_text())
    metrics.pop("settings", None)  # as written before they were recorded
    path.write_text(json.dumps(metrics))
    with pytest.raises(app.UsageError, match="settings were not recorded"):
        _compress(tmp_path)


def _constant_teacher():
    """A small_cnn that always answers the rarest test class: near chance."""
    bundle = resources.load_dataset("builtin", limit=64, batch_size=64)
    rarest = np.bincount(bundle.arrays()[3], minlength=10).argmin()
    model = resources.build_model("small_cnn", (28, 28, 1), 10)
    logits = model.get_layer("logits")
    kernel = logits.get_weights()[0]
    logits.set_weights([np.zeros_like(kernel), np.eye(10)[rarest] * 5.0])
    return model


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A run with a teacher near chance: what it printed and warned."""
    root = tmp_path_factory.mktemp("first_run")
    path = str(root / "near_chance.keras")
    _constant_teacher().save(path)
    out = str(root / "run")
    printed = io.StringIO()
    with (
        flagsaver.flagsaver(**_RUN, teacher_path=path, output_dir=out),
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(printed),
    ):
        warnings.simplefilter("always")
        compress.main(["compress"])
    return path, out, printed.getvalue(), caught


def test_the_teacher_check_prints_once_as_a_log_line(first_run):
    _, _, printed, caught = first_run
    lines = [line for line in printed.splitlines() if "near chance" in line]
    assert len(lines) == 1, printed[-3000:]
    assert lines[0].startswith("[tf_compact.compress ")
    assert not [w for w in caught if "near chance" in str(w.message)]


def test_resuming_with_other_settings_is_a_one_line_usage_error(first_run):
    path, out, _, _ = first_run
    flags_set = {**_RUN, "epochs": 1, "teacher_path": path, "output_dir": out}
    with (
        flagsaver.flagsaver(**flags_set),
        pytest.raises(app.UsageError) as error,
    ):
        compress.main(["compress"])
    message = str(error.value)
    assert message.startswith(f"--output_dir={out} holds a compress run")
    assert "epochs 0 -> 1" in message and "--noresume" in message
    assert "resume=False" not in message and "\n" not in message


def test_a_teacher_that_does_not_take_the_data_is_a_usage_error(tmp_path):
    import keras

    inputs = keras.Input((32, 32, 3))
    flat = keras.layers.Flatten()(inputs)
    path = str(tmp_path / "rgb32.keras")
    keras.Model(inputs, keras.layers.Dense(10)(flat)).save(path)
    out = str(tmp_path / "run")
    with (
        flagsaver.flagsaver(**_RUN, teacher_path=path, output_dir=out),
        pytest.raises(app.UsageError, match=r"takes 32x32x3 inputs.*28x28x1"),
    ):
        compress.main(["compress"])


def test_a_checkpoint_that_cannot_be_loaded_is_a_usage_error(
    first_run, tmp_path, monkeypatch
):
    import shutil

    from tf_compact.pipeline import store

    path, out, _, _ = first_run
    copy = str(tmp_path / "run")
    shutil.copytree(out, copy)
    # A file that passes the digest check but does not load (a Keras
    # version that cannot read it, say).
    monkeypatch.setattr(store.StageStore, "_drop_damaged", lambda self: None)

    load = store.keras.saving.load_model

    def unreadable(file, *args, **kwargs):
        if str(file).startswith(copy):
            raise ValueError("cannot read it")
        return load(file, *args, **kwargs)

    monkeypatch.setattr(store.keras.saving, "load_model", unreadable)
    with (
        flagsaver.flagsaver(**_RUN, teacher_path=path, output_dir=copy),
        pytest.raises(app.UsageError) as error,
    ):
        compress.main(["compress"])
    message = str(error.value)
    assert message.startswith(f"{copy}/") and "cannot read it" in message
    assert "--noresume" in message and "resume=False" not in message
