"""What the stages of one `compress` run share."""

import os
import time

import keras

from tf_compact.pipeline import training


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
        path = self.store.path(os.path.join("backup", stage))
        return path

    def backup_callbacks(self, stage):
        """Callbacks that make a training stage resumable mid-way."""
        path = self.backup_dir(stage)
        if path is None:
            return []
        return [keras.callbacks.BackupAndRestore(path, delete_checkpoint=True)]
