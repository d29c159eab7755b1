"""Trainers hand the data `fit` was given to the callbacks that ask."""

import inspect

import keras
import numpy as np
import tensorflow as tf

from tf_compact.internal.user_warning import warn


class HandsFitData:
    """Mixin for trainer models: before `fit` runs, every callback with a
    `take_fit_data(data)` method receives `fit`'s training data (`x`, or
    `(x, y)` when `y` is given) when it can be read again: arrays, a dict
    of arrays, a `tf.data.Dataset` or a `keras.utils.PyDataset`, and with
    `y` a list or tuple of arrays (several inputs, handed over as a
    tuple). Other data (generators, unlabelled lists of inputs) is not
    handed over.

    The controllers use it to recalibrate the BN statistics of the model
    they steer on the very data it was trained on, without the user
    passing that data twice.

    Example:

    ```python
    class Trainer(HandsFitData, keras.Model):
        ...
    ```
    """

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, after handing its data to the callbacks."""
        bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        x, y = bound.arguments.get("x"), bound.arguments.get("y")
        if y is not None and _several_arrays(x):
            x = tuple(x)  # several inputs, read as `(x, y)` arrays
        callbacks = list(bound.arguments.get("callbacks") or ())
        warn_loss_monitors(self, callbacks)
        if readable_again(x) or (y is not None and isinstance(x, tuple)):
            data = x if y is None else (x, y)
            for callback in callbacks:
                take = getattr(callback, "take_fit_data", None)
                if take is not None:
                    take(data)
        return super().fit(*args, **kwargs)


#: What to monitor instead of `loss`, by the key a trainer logs it under.
_PENALTY_FREE = {"task_loss": "Sparsifier", "student_loss": "Distiller"}


def warn_loss_monitors(trainer, callbacks):
    """Warns when a callback monitors `loss` / `val_loss` while a controller
    steers the trainer's sparsity penalty: the loss includes the penalty,
    which the controller raises on purpose, so the monitor reads the
    controller's work as divergence (`EarlyStopping` stops, and
    `ReduceLROnPlateau` cuts the learning rate)."""
    controllers = [c for c in callbacks if getattr(c, "steers_penalty", False)]
    if not controllers or getattr(trainer, "sparsity", None) is None:
        return
    for callback in callbacks:
        monitor = getattr(callback, "monitor", None)
        if monitor not in ("loss", "val_loss") or callback in controllers:
            continue
        prefix = "val_" if monitor == "val_loss" else ""
        key = "student_loss" if hasattr(trainer, "student") else "task_loss"
        warn(
            f"{type(callback).__name__} monitors {monitor!r}, which includes "
            f"the sparsity penalty that {type(controllers[0]).__name__} "
            "raises on purpose (the loss can grow a hundredfold within an "
            "epoch while the model improves): it would read the "
            "controller's work as divergence. Monitor "
            f"{prefix + key!r} with `mode='min'` (the {_PENALTY_FREE[key]}'s "
            "loss without the penalty) or an accuracy instead.",
        )


def readable_again(x):
    """Whether `x` can be read a second time, batch for batch."""
    if isinstance(x, (np.ndarray, tf.data.Dataset, keras.utils.PyDataset)):
        return True
    return isinstance(x, dict) and all(
        isinstance(v, np.ndarray) for v in x.values()
    )


def _several_arrays(x):
    """Whether `x` is a list or tuple of arrays (a model's inputs)."""
    return (
        isinstance(x, (list, tuple))
        and bool(x)
        and all(isinstance(v, np.ndarray) for v in x)
    )
