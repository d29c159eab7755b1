"""An interrupted teacher training of `tf-compact compress` resumes."""

import json
import os

import keras
import pytest

from tf_compact.cli import resources
from tf_compact.cli import teacher


class _Stop(Exception):
    pass


class _Interrupt(keras.callbacks.Callback):
    """Raises at the end of the first epoch, as a killed run stops."""

    def on_epoch_end(self, epoch, logs=None):
        raise _Stop()


class _Epochs(keras.callbacks.Callback):
    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


@pytest.fixture
def runs(monkeypatch):
    """Each `fit` of the teacher: the epochs it ran. The first (the first
    after `runs.clear()`) is cut off after its first epoch."""
    real = teacher.training.fit_classifier
    seen = []

    def fit(model, data, epochs, callbacks=(), **kwargs):
        seen.append([])
        extra = [_Epochs(seen[-1])] + [_Interrupt()] * (len(seen) == 1)
        callbacks = list(callbacks) + extra
        return real(model, data, epochs, callbacks=callbacks, **kwargs)

    monkeypatch.setattr(teacher.training, "fit_classifier", fit)
    return seen


@pytest.fixture(scope="module")
def bundle():
    return resources.load_dataset("builtin", batch_size=32, limit=64)


def _train(bundle, out, resume=True):
    return teacher.load_or_train_teacher(
        bundle, "small_cnn", 3, str(out), resume=resume, verbose=0
    )


def test_an_interrupted_teacher_training_resumes(tmp_path, runs, bundle):
    with pytest.raises(_Stop):
        _train(bundle, tmp_path)
    backup = tmp_path / teacher.BACKUP_DIR
    assert backup.is_dir()
    _train(bundle, tmp_path)
    assert runs == [[0], [1, 2]]
    # The history covers the whole training; the backup is gone.
    with open(tmp_path / teacher.METRICS_FILE) as f:
        assert len(json.load(f)["history"]["loss"]) == 3
    assert not os.path.exists(tmp_path / "backup")


def test_noresume_or_other_settings_start_the_teacher_over(
    tmp_path, runs, bundle
):
    with pytest.raises(_Stop):
        _train(bundle, tmp_path / "a")
    _train(bundle, tmp_path / "a", resume=False)
    assert runs == [[0], [0, 1, 2]]
    runs.clear()  # the next fit is interrupted again
    with pytest.raises(_Stop):
        _train(bundle, tmp_path / "b")
    teacher.load_or_train_teacher(
        bundle, "small_cnn", 2, str(tmp_path / "b"), verbose=0
    )
    assert runs == [[0], [0, 1]]
