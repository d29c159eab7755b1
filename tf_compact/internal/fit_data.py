"""Trainers hand the data `fit` was given to the callbacks that ask."""


class HandsFitData:
    """Mixin for trainer models: before `fit` runs, every callback with a
    `take_fit_data(data)` method receives `fit`'s training data (`x`, or
    `(x, y)` when `y` is given).

    The controllers use it to recalibrate the BN statistics of the model
    they steer on the very data it was trained on, without the user
    passing that data twice.

    Example:

    ```python
    class Trainer(HandsFitData, keras.Model):
        ...
    ```
    """

    def fit(self, x=None, y=None, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, after handing `x` (and `y`) to the callbacks."""
        for callback in callbacks or ():
            take = getattr(callback, "take_fit_data", None)
            if take is not None:
                take(x if y is None else (x, y))
        return super().fit(x, y, *args, callbacks=callbacks, **kwargs)
