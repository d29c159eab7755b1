"""`ProximalStep`: exact zeros for a proximal penalty trained by any model."""

import keras
import tensorflow as tf

from tf_compact.callbacks.penalty_target import find_penalty


@keras.saving.register_keras_serializable(package="tf_compact")
class ProximalStep(keras.callbacks.Callback):
    """Applies a proximal penalty's soft-thresholding after every step.

    A penalty built with `proximal=True` (`tfc.GroupLasso`,
    `tfc.BNGammaL1`) contributes no gradient; its proximal step, `W_c <-
    W_c * max(0, 1 - lr * lambda * k_c / ||W_c||)`, sets whole channels to
    exact zeros. `tfc.Sparsifier` and `tfc.Distiller` apply it inside their
    traced train step and need no callback: this callback refuses them
    (a second step per batch would shrink twice as fast), so that a
    training script written for an older version fails loudly instead of
    changing the result. Use it with your own training model that carries
    the penalty as `model.sparsity` and the regularized model as
    `model.student` or `model.model` but does not apply the step itself.
    It runs one traced call per batch (once per execution with
    `steps_per_execution > 1`), which costs more than the in-step version.
    Under a `tf.distribute` strategy the step runs between training steps,
    on the mirrored weights, once per update.

    Raises:
        ValueError: When fit starts, if the model has no penalty, if the
            penalty is not proximal, or if the model applies the step
            itself (`tfc.Sparsifier`, `tfc.Distiller`).

    Example:

    ```python
    class Trainer(keras.Model):  # a custom wrapper with `sparsity`
        def __init__(self, model, sparsity):
            super().__init__()
            self.model, self.sparsity = model, sparsity

        def call(self, x, training=None):
            return self.model(x, training=training)

        def compute_loss(self, x, y, y_pred, sample_weight=None,
                         training=True):
            loss = super().compute_loss(x, y, y_pred, sample_weight)
            # Keras divides its losses by the replicas under tf.distribute.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            return loss + self.sparsity(self.model) / replicas

    trainer = Trainer(model, tfc.GroupLasso(1e-4, proximal=True))
    trainer.compile("adam", "sparse_categorical_crossentropy")
    trainer.fit(x, y, callbacks=[tfc.callbacks.ProximalStep()])
    ```
    """

    def __init__(self):
        super().__init__()
        self.penalty = None
        self._step = None

    def set_model(self, model):
        super().set_model(model)
        penalty, target = find_penalty(model, "ProximalStep")
        if getattr(model, "applies_proximal_step", False):
            kind = type(model).__name__
            raise ValueError(
                f"ProximalStep is not needed with tfc.{kind}, which applies "
                "the proximal step in its train step: remove "
                "`tfc.callbacks.ProximalStep()` from the callbacks. "
                f"Received: model '{model.name}' of type {kind}"
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
