"""What the stages of one `compress` run share."""

import json
import os
import shutil
import time

import h5py
import keras

from tf_compact.internal.user_warning import warn
from tf_compact.pipeline import training
from tf_compact.pipeline.epoch_log import EpochLog


class CompressContext:
    """The inputs, settings and artifact store of a `compress` run.

    Stages read the teacher and the data from here, keep the models and
    files they produce in `store` (a `StageStore`), and return a JSON
    record that `compress` saves as the stage's checkpoint.

    Args:
        teacher: the trained teacher `keras.Model`.
        train_data: batched training `tf.data.Dataset` of `(x, y)`.
        val_data: batched validation dataset, or `None`.
        test_data: batched test dataset used for the reported accuracies
            (falls back to `val_data`).
        settings: dict of validated `compress` arguments.
        store: the run's `StageStore`.
        verbose: 0 silent, 1 stage headers and Keras progress bars.

    Attributes set by `compress` after construction: `method` (the
    `tfc.methods` object that runs), `callbacks` (the user's Keras
    callbacks, added to every training stage), `strategy` (the
    `tf.distribute.Strategy` the stages run under, or `None`) and
    `app_metadata` (the labels and input normalization written into the
    student's `.tflite` files, `pipeline.android.app_metadata`).
    """

    def __init__(
        self, teacher, train_data, val_data, test_data, settings, store, verbose
    ):
        self.teacher = teacher
        self.train_data = train_data
        self.val_data = val_data
        self.test_data = test_data if test_data is not None else val_data
        self.settings = settings
        self.store = store
        self.verbose = verbose
        self.transforms = list(settings.get("lighten", ()))
        self.method = None
        self.callbacks = []
        self.strategy = None
        self._epoch_logs = []

    @property
    def eval_data(self):
        """The dataset accuracies are reported on."""
        return self.test_data if self.test_data is not None else self.val_data

    def log(self, message):
        """Prints a progress line when `verbose`."""
        if self.verbose:
            stamp = time.strftime("%H:%M:%S")
            print(f"[tf_compact.compress {stamp}] {message}", flush=True)

    def fit_verbose(self):
        """The `verbose` value to pass to `fit`."""
        return 1 if self.verbose else 0

    def accuracy(self, model):
        """Accuracy of `model` on the evaluation data, or None without it."""
        if self.eval_data is None:
            return None
        return training.accuracy(model, self.eval_data)

    def backup_dir(self, stage):
        """A `BackupAndRestore` directory for `stage`, or None."""
        if self.store is None:
            return None
        return self.store.backup_path(stage)

    def fit_callbacks(self, stage):
        """The callbacks of a training stage's `fit`: the user's, then
        `backup_callbacks(stage)`."""
        return list(self.callbacks) + self.backup_callbacks(stage)

    def backup_callbacks(self, stage):
        """Callbacks that make a training stage resumable mid-way.

        An `EpochLog` (the stage's per-epoch logs, kept across a resume;
        see `full_history`) and, with an output directory,
        `keras.callbacks.BackupAndRestore`. A backup that cannot be read
        (a truncated weights file, say) is reported (log and
        `UserWarning`) and deleted, and the stage trains from its first
        epoch.
        """
        path = self.backup_dir(stage)
        log = EpochLog(path + ".history.json" if path else None)
        self._epoch_logs.append(log)
        if path is None:
            return [log]
        problem = _backup_problem(path)
        if problem is not None:
            message = (
                f"The training backup {path!r} is damaged ({problem}): "
                "deleted, the stage trains from its first epoch."
            )
            self.log(message)
            warn(message)
            shutil.rmtree(path)
        if not os.path.exists(os.path.join(path, _METADATA)):
            log.discard()
        return [log, keras.callbacks.BackupAndRestore(path)]

    def full_history(self, record):
        """`record` with its `history` covering every epoch of the stage.

        After a resume, the `History` of a stage's `fit` holds only the
        epochs run since the restart; the `EpochLog` of the stage's last
        `backup_callbacks` holds them all. The history keeps the metrics
        the stage chose to record (all of them when the record has no
        `history`). Call it once per stage, when the stage returns.

        Args:
            record: the JSON-able record the stage returned.

        Returns:
            The record, with `history` merged across resumes.
        """
        logs, self._epoch_logs = self._epoch_logs, []
        for log in logs:
            log.discard()
        if not logs or not isinstance(record, dict):
            return record
        merged = logs[-1].history()
        if not merged:
            return record
        kept = record.get("history")
        if kept:
            merged = {k: merged.get(k, v) for k, v in kept.items()}
        return dict(record, history=merged)


_WEIGHTS = "latest.weights.h5"
_METADATA = "training_metadata.json"


def _backup_problem(path):
    """Why the `BackupAndRestore` files in `path` are unreadable, or None."""
    weights = os.path.join(path, _WEIGHTS)
    if os.path.exists(weights):
        try:
            with h5py.File(weights, "r") as f:
                f.visititems(_read_dataset)
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            return f"{weights}: {type(err).__name__}: {err}"
    metadata = os.path.join(path, _METADATA)
    if os.path.exists(metadata):
        try:
            with open(metadata) as f:
                int(json.load(f)["epoch"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            return f"{metadata}: {type(err).__name__}: {err}"
    return None


def _read_dataset(name, item):
    if isinstance(item, h5py.Dataset):
        item[()]
