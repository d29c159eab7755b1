"""`EpochLog`: per-epoch logs of a training stage that survive a resume."""

import json
import os

import keras
import numpy as np


class EpochLog(keras.callbacks.Callback):
    """Keeps every epoch's logs of one training, across interruptions.

    `keras.callbacks.BackupAndRestore` resumes an interrupted `fit` at the
    epoch it stopped at, and the `History` of the resumed `fit` then holds
    only the epochs run after the restart. `EpochLog` writes the logs of
    each finished epoch to a JSON file (keyed by epoch index, so an epoch
    run again after a restart replaces its earlier entry) and reads them
    back when training begins: `history()` is the history of the whole
    training. Place it before `BackupAndRestore` in the callback list.

    Args:
        path: JSON file of the logs, or `None` to keep them in memory only.
            Defaults to `None`.

    Example:

    ```python
    log = EpochLog("out/backup/slim.history.json")
    backup = keras.callbacks.BackupAndRestore("out/backup/slim")
    model.fit(data, epochs=6, callbacks=[log, backup])
    log.history()  # {"loss": [six values], ...}
    ```
    """

    def __init__(self, path=None):
        super().__init__()
        self.path = path
        self._epochs = {}
        self._last = None

    def on_train_begin(self, logs=None):
        self._epochs = self._read()
        self._last = None

    def on_epoch_end(self, epoch, logs=None):
        self._epochs[int(epoch)] = {
            key: float(np.asarray(value))
            for key, value in (logs or {}).items()
            if np.asarray(value).size == 1
        }
        self._last = int(epoch)
        self._write()

    def history(self):
        """`{metric: [value per epoch]}` of every epoch up to the last run.

        Returns:
            A dict of lists in epoch order, empty when no epoch ended.
        """
        if self._last is None:
            return {}
        epochs = [
            self._epochs[e] for e in sorted(self._epochs) if e <= self._last
        ]
        keys = list(dict.fromkeys(k for logs in epochs for k in logs))
        return {k: [logs[k] for logs in epochs if k in logs] for k in keys}

    def discard(self):
        """Deletes the log file (the training's history is kept elsewhere)."""
        if self.path and os.path.exists(self.path):
            os.remove(self.path)

    def _read(self):
        if not self.path or not os.path.exists(self.path):
            return {}
        try:
            with open(self.path) as f:
                saved = json.load(f)
            return {int(k): dict(v) for k, v in saved.items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}

    def _write(self):
        if not self.path:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({str(k): v for k, v in self._epochs.items()}, f)
        os.replace(tmp, self.path)
