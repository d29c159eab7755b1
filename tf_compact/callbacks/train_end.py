"""A controller's train-end work, and doing it again after a restore.

When training ends, a `PenaltyController` recalibrates the BN statistics
of the model it steers (and a `BudgetController` first fits the threshold
that meets the budget, zeroing channels with per-block budgets). A
callback whose `on_train_end` runs after the controller's may set the
weights again: `keras.callbacks.EarlyStopping(restore_best_weights=True)`
listed after the controller restores its best epoch's weights, which
undoes that work, so `tfc.prune(model, threshold=controller.threshold)`
would miss the budget. The controller keeps a fingerprint of the weights
after its work; the first read of its `threshold` after training (which
`measure()` and `met_by_sparsity` make too) compares it with the weights
then, and when they changed, warns and does the work again on them.
Listed after `EarlyStopping`, the controller works once, on the restored
weights.

The data of the BN recalibration is what `fit` was given, less the rows
that `validation_split` holds out (see `training_rows`).
"""

import hashlib
import math

import keras
import numpy as np

from tf_compact.internal import batch_norm
from tf_compact.internal.user_warning import warn

#: `TrainEndCheck.restored` when the weights are as the work left them.
UNCHANGED = object()


def fingerprint(model):
    """A digest of the values of all of `model`'s weights."""
    digest = hashlib.blake2b(digest_size=16)
    for weight in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(value.tobytes())
    return digest.digest()


class TrainEndCheck:
    """Tells, once, whether a model's weights changed since `arm`.

    Example:

    ```python
    check = TrainEndCheck()
    check.arm(model, data)  # at the end of the train-end work
    data = check.restored(model)  # `UNCHANGED`, or the data to redo it
    ```
    """

    def __init__(self):
        self._fingerprint = None
        self._data = None

    def arm(self, model, data):
        """Remembers `model`'s weights now, and the data of the work."""
        self._fingerprint = fingerprint(model)
        self._data = data

    def disarm(self):
        """Forgets the weights and the data (a new fit, or a new model)."""
        self._fingerprint = None
        self._data = None

    def restored(self, model):
        """Returns the data kept by `arm` when `model`'s weights changed
        since, else `UNCHANGED`; disarms, so only the first call after
        `arm` can tell a change."""
        if self._fingerprint is None:
            return UNCHANGED
        changed = fingerprint(model) != self._fingerprint
        data = self._data if changed else UNCHANGED
        self.disarm()
        return data


class TrainEndWork:
    """Mixin of `PenaltyController`: the work done when training ends,
    done again when a later callback set the weights (see above).

    Subclasses extend `_finish_training(data)` with their own work.
    """

    _fit_data = None
    _threshold = None

    @property
    def _train_end(self):
        if "_check" not in self.__dict__:
            self._check = TrainEndCheck()
        return self._check

    def take_fit_data(self, data):
        """Keeps the data a tf_compact trainer's `fit` was given."""
        self._fit_data = data

    def on_train_end(self, logs=None):
        if (self.params or {}).get("epochs") != 0:  # epochs=0: no change
            self._finish_training(self._fit_data)
            # A callback after this one may still set the weights.
            self._train_end.arm(self.target, self._fit_data)
        self._fit_data = None

    def _finish_training(self, data):
        """The train-end work on `data`, `fit`'s: recalibrates BN."""
        batch_norm.recalibrate_after_fit(
            self.target,
            self.recalibrate_data,
            training_rows(data, self.model),
            self.recalibrate_batches,
            type(self).__name__,
        )

    def redo_if_restored(self):
        """Redoes the train-end work, with a warning, when this is the
        first call after training and a callback set the weights since."""
        data = self._train_end.restored(self.target)
        if data is not UNCHANGED:
            warn_restored(self)
            self._finish_training(data)

    @property
    def threshold(self):
        """Channel norm below which a channel counts as zero.

        The first read after training redoes the train-end work (with a
        warning) if a callback after this one set the weights since.
        """
        self.redo_if_restored()
        return self._threshold

    @threshold.setter
    def threshold(self, value):
        self._threshold = value


def warn_restored(controller):
    """Warns that the train-end work of `controller` is being redone."""
    name = type(controller).__name__
    warn(
        f"{name}: the weights of '{controller.target.name}' changed after "
        "the controller's train-end work: a callback after it in "
        "`callbacks` (such as `keras.callbacks.EarlyStopping("
        "restore_best_weights=True)`) set earlier weights. The work "
        "(threshold, BN recalibration) is done again on the weights now, "
        "so `tfc.prune(model, threshold=controller.threshold)` uses them. "
        f"List {name} after EarlyStopping to do it once, at the end of fit.",
    )


def training_rows(data, trainer):
    """Returns `data` less the rows `fit`'s `validation_split` held out.

    With `validation_split=s`, `keras.Model.fit` validates on the last `s`
    of the arrays (after `floor(n * (1 - s))` rows) and trains on the
    rest. A tf_compact trainer keeps `s` as `fit_validation_split`; arrays,
    dicts of arrays and `(x, y)` tuples of them are cut there. Other data
    (a dataset cannot be split by `fit`) is returned as it is.

    Args:
        data: What the trainer handed to the controller (or `None`).
        trainer: The model being fit.
    """
    split = float(getattr(trainer, "fit_validation_split", 0.0) or 0.0)
    if data is None or not 0.0 < split < 1.0:
        return data
    leaves = keras.tree.flatten(data)
    if not leaves or not all(isinstance(a, np.ndarray) for a in leaves):
        return data
    keep = int(math.floor(len(leaves[0]) * (1.0 - split)))
    return keras.tree.map_structure(lambda a: a[:keep], data)
