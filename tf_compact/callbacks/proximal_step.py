"""`ProximalStep`: exact zeros for a proximal penalty trained by any model."""

import keras
import tensorflow as tf

from tf_compact.callbacks.penalty_controller import find_penalty


@keras.saving.register_keras_serializable(package="tf_compact")
class ProximalStep(keras.callbacks.Callback):
    """Applies a proximal penalty's soft-thresholding after every step.

    A penalty built with `proximal=True` (`tfc.GroupLasso`,
    `tfc.BNGammaL1`) contributes no gradient; this callback follows each
    optimizer step with its proximal step, `W_c <- W_c * max(0, 1 - lr *
    lambda * k_c / ||W_c||)`, which sets whole channels to exact zeros.
    `tfc.Sparsifier` does this inside its train step and needs no callback;
    use this one with `tfc.Distiller(..., sparsity=...)`. With
    `steps_per_execution > 1` it runs once per execution.

    Raises:
        ValueError: When fit starts, if the model has no penalty, if the
            penalty is not proximal, or if the model is a `tfc.Sparsifier`
            (which applies the step itself).

    Example:

    ```python
    penalty = tfc.GroupLasso(1e-4, proximal=True)
    distiller = tfc.Distiller(teacher, student, [tfc.LogitsKD()],
                              sparsity=penalty)
    distiller.compile("adam", "sparse_categorical_crossentropy")
    distiller.fit(x, y, callbacks=[tfc.callbacks.ProximalStep()])
    ```
    """

    def __init__(self):
        super().__init__()
        self.penalty = None
        self._step = None

    def set_model(self, model):
        super().set_model(model)
        from tf_compact.sparsity.sparsifier import Sparsifier

        penalty, target = find_penalty(model, "ProximalStep")
        if isinstance(model, Sparsifier):
            raise ValueError(
                "ProximalStep is not needed with tfc.Sparsifier, which "
                "applies the proximal step in its train step. Received: "
                f"model '{model.name}' of type Sparsifier"
            )
        if not getattr(penalty, "proximal", False):
            raise ValueError(
                "ProximalStep needs a penalty built with `proximal=True`. "
                f"Received: sparsity={penalty!r} with proximal=False"
            )
        penalty.bind(target)
        penalty.proximal_applied = True
        self.penalty = penalty
        self._step = None

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        penalty = self.penalty
        # One traced call per batch; the learning rate (a variable or a
        # schedule of `optimizer.iterations`) is read inside it.
        self._step = tf.function(
            lambda: penalty.apply_proximal(optimizer.learning_rate)
        )

    def on_train_batch_end(self, batch, logs=None):
        self._step()

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
