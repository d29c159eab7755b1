"""`Sparsifier`: train a model with a sparsity penalty and no teacher."""

import keras

from tf_compact.internal import distribute
from tf_compact.internal import fit_data
from tf_compact.internal import multi_worker_fit
from tf_compact.internal import trainer_calls
from tf_compact.sparsity import proximal as proximal_lib


@keras.saving.register_keras_serializable(package="tf_compact")
class Sparsifier(
    trainer_calls.TrainerCalls,
    fit_data.HandsFitData,
    multi_worker_fit.MultiWorkerFit,
    keras.Model,
):
    """Trains `model` under a group-sparsity penalty, without a teacher.

    The teacher-less counterpart of `tfc.Distiller(..., sparsity=...)`:
    compile and fit it like any Keras model. Its loss is the compiled loss
    of `model` (plus `model`'s own regularization losses) plus
    `sparsity(model)`; it logs the penalty as `sparsity_loss` and the loss
    without it as `task_loss` (`val_task_loss` on validation data: the one
    for `EarlyStopping` or `ReduceLROnPlateau` to monitor, since a
    controller raises the penalty on purpose). When the
    penalty is `proximal`, every optimizer step is followed by the
    penalty's proximal step, which sets whole groups to exact zeros.

    `model` is trained in place (as `keras.Model.fit` trains a model); the
    wrapper only adds the penalty. After training, slim `model` itself, e.g.
    `tfc.prune(sparsifier.model, threshold=controller.threshold)`.

    The penalty is tracked by the wrapper, so its strength (and any
    controller state kept in it) is saved by `save_weights` and restored by
    `keras.callbacks.BackupAndRestore`. The proximal step runs inside the
    TensorFlow train step.

    Under a `tf.distribute` strategy (`MirroredStrategy`,
    `MultiWorkerMirroredStrategy`), build the model, the penalty and the
    wrapper and compile inside `strategy.scope()`: the penalty counts once
    per global batch, as on one device.

    Args:
        model: The `keras.Model` to train.
        sparsity: A penalty such as `tfc.GroupLasso(...)`: a callable
            `sparsity(model)` returning a scalar tensor already multiplied
            by its strength. `None` trains `model` plainly. Defaults to
            `None`.
        **kwargs: Base `keras.Model` arguments (`name`, ...).

    Raises:
        TypeError: If `model` is not a `keras.Model` or `sparsity` is not
            callable.

    Example:

    ```python
    trainer = tfc.Sparsifier(model, sparsity=tfc.GroupLasso(1e-4))
    trainer.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    controller = tfc.callbacks.BudgetController(target_macs=0.5)
    trainer.fit(x, y, epochs=5, callbacks=[controller])
    slim = tfc.prune(model, threshold=controller.threshold)
    ```
    """

    #: Tells `tfc.callbacks.ProximalStep` that the train step already
    #: applies the penalty's proximal step.
    applies_proximal_step = True
    #: What `compile` reads the head of (`TrainerCalls`).
    trained_model_attribute = "model"

    def __init__(self, model, sparsity=None, **kwargs):
        super().__init__(**kwargs)
        _validate_model(model)
        _validate_sparsity(sparsity)
        self.model = model
        self.sparsity = sparsity
        if proximal_lib.is_proximal(sparsity):
            sparsity.proximal_applied = True
        self.sparsity_loss_tracker = keras.metrics.Mean(name="sparsity_loss")
        self.task_loss_tracker = keras.metrics.Mean(name="task_loss")
        if model.built:
            self.built = True

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        loss = super().compute_loss(
            x=x,
            y=y,
            y_pred=y_pred,
            sample_weight=sample_weight,
            training=training,
        )
        if self.sparsity is None:
            return loss
        # Keras has divided `loss` by the replica count; the log wants it whole.
        self.task_loss_tracker.update_state(loss * distribute.num_replicas())
        penalty = self.sparsity(self.model)
        self.sparsity_loss_tracker.update_state(penalty)
        # Keras divides the loss by the replica count under tf.distribute.
        penalty = distribute.scale_for_replicas(penalty)
        return loss + keras.ops.cast(penalty, loss.dtype)

    def train_step(self, data):
        logs = super().train_step(data)
        step = getattr(self.sparsity, "after_optimizer_step", None)
        if step is not None:
            step(self.optimizer.learning_rate)
        return logs

    def get_config(self):
        config = super().get_config()
        config.update(
            model=keras.saving.serialize_keras_object(self.model),
            sparsity=keras.saving.serialize_keras_object(self.sparsity),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        model = keras.saving.deserialize_keras_object(config.pop("model"))
        sparsity = keras.saving.deserialize_keras_object(config.pop("sparsity"))
        return cls(model, sparsity=sparsity, **config)


def _validate_model(model):
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Invalid type for argument `model`. Expected a keras.Model. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )


def _validate_sparsity(sparsity):
    if sparsity is not None and not callable(sparsity):
        raise TypeError(
            "Invalid type for argument `sparsity`. Expected a callable "
            "penalty such as `tfc.GroupLasso()`, or None. Received: "
            f"sparsity={sparsity!r} of type {type(sparsity).__name__}"
        )
