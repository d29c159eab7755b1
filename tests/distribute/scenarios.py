"""Small training runs that the distribution tests repeat per strategy.

Each scenario builds its models inside `strategy.scope()`, trains a few
steps on fixed data (no shuffling, global batch `BATCH`) and returns what a
strategy must not change: the loss after every step, the controller's
trajectory (strength and threshold after every step) and the widths of the
pruned model. The models have no BatchNormalization in training mode
(per-replica batch statistics would differ from one device's); the teacher
may have BN, which runs in inference mode.
"""

import keras
import numpy as np
import tensorflow as tf

import tf_compact as tfc
from tf_compact.internal import distribute
from tf_compact.internal import multi_worker_fit

BATCH = 8
CLASSES = 3
SHAPE = (8, 8, 1)


def conv_net(width, name, bn=False):
    """Two conv stages, GAP and a dense head; layers named alike."""
    inputs = keras.Input(SHAPE, name="image")
    x = keras.layers.Conv2D(width, 3, padding="same", name="c1")(inputs)
    if bn:
        x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="r1")(x)
    x = keras.layers.MaxPooling2D(name="p1")(x)
    x = keras.layers.Conv2D(2 * width, 3, padding="same", name="c2")(x)
    x = keras.layers.ReLU(name="r2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def data(n=32, seed=0):
    """Images whose class follows the sign pattern of two pixels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + SHAPE).astype("float32")
    y = ((x[:, 0, 0, 0] > 0).astype("int64") + (x[:, 1, 1, 0] > 0)) % CLASSES
    return x, y


def dataset(x, y):
    """A dataset of global batches, in order."""
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)


class StepLog(keras.callbacks.Callback):
    """Records the loss and the controller's state after every step."""

    def __init__(self, controller=None):
        super().__init__()
        self.controller = controller
        self.losses = []
        self.strengths = []
        self.thresholds = []
        self.val_losses = []
        self.accuracies = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))
        penalty = getattr(self.model, "sparsity", None)
        if penalty is not None:
            self.strengths.append(_number(penalty.strength))
        if self.controller is not None:
            self.thresholds.append(float(self.controller.threshold))

    def on_epoch_end(self, epoch, logs=None):
        if "val_loss" in logs:
            self.val_losses.append(float(logs["val_loss"]))
        for key in ("accuracy", "val_accuracy"):
            if key in logs:
                self.accuracies.append(float(logs[key]))


def _number(value):
    return float(keras.ops.convert_to_numpy(value))


def _loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _widths(model):
    """`{layer name: output channels}` of the conv and dense layers."""
    return {
        layer.name: int(layer.kernel.shape[-1])
        for layer in model.layers
        if getattr(layer, "kernel", None) is not None
    }


def _kept(penalty, model, threshold):
    """`{group name: channels whose penalty value is >= threshold}`."""
    values = np.asarray(
        keras.ops.convert_to_numpy(penalty.channel_values(model))
    )
    return {
        name: int(np.sum(part >= threshold))
        for name, part in penalty.plan.split(values).items()
    }


def _distributed(*variables):
    """Whether each variable is a `tf.distribute` (mirrored) variable."""
    return [
        isinstance(getattr(v, "value", v), tf.distribute.DistributedValues)
        for v in variables
        if v is not None
    ]


def _state(penalty):
    """The penalty's variables: strength, per-channel and named states."""
    return _distributed(
        penalty.strength,
        penalty.channel_scales,
        penalty.channel_weights,
        *penalty._states.variables.values(),
    )


def _fit(trainer, x, y, epochs, callbacks, validation_data=None):
    if validation_data is not None:
        validation_data = dataset(*validation_data)
    trainer.fit(
        dataset(x, y),
        epochs=epochs,
        verbose=0,
        callbacks=callbacks,
        validation_data=validation_data,
    )


def sparsifier_controller(strategy):
    """A Sparsifier with a (gradient) group lasso and a SparsityController
    on the accuracy, referenced to the model's own starting score."""
    keras.utils.set_random_seed(2)
    with strategy.scope():
        model = conv_net(6, "model")
        trainer = tfc.Sparsifier(model, sparsity=tfc.GroupLasso(0.01))
        trainer.compile(optimizer=keras.optimizers.SGD(0.1), loss=_loss())
    x, y = data()
    xv, yv = data(24, seed=1)
    controller = tfc.callbacks.SparsityController(
        data=(xv, yv), metric="loss", setpoint=0.2, update_every=1
    )
    log = StepLog(controller)
    _fit(trainer, x, y, 2, [controller, log])
    return {
        "losses": log.losses,
        "strengths": log.strengths,
        "gap": controller.last_gap,
        "distributed": _state(trainer.sparsity),
    }


def bn_gamma(strategy):
    """A proximal BN-gamma L1 on a student with synchronized BN, whose batch
    statistics are the global batch's under any strategy."""
    keras.utils.set_random_seed(12)
    with strategy.scope():
        inputs = keras.Input(SHAPE)
        h = keras.layers.Conv2D(6, 3, padding="same", name="c1")(inputs)
        h = keras.layers.BatchNormalization(synchronized=True, name="bn1")(h)
        h = keras.layers.ReLU()(h)
        h = keras.layers.GlobalAveragePooling2D()(h)
        outputs = keras.layers.Dense(CLASSES, name="logits")(h)
        model = keras.Model(inputs, outputs)
        penalty = tfc.BNGammaL1(0.5, proximal=True)
        trainer = tfc.Sparsifier(model, sparsity=penalty)
        trainer.compile(optimizer=keras.optimizers.SGD(0.1), loss=_loss())
    x, y = data()
    controller = tfc.callbacks.BudgetController(
        target_params=0.6, update_every=1, ramp=None, recalibrate_data=x
    )
    log = StepLog(controller)
    _fit(trainer, x, y, 2, [controller, log])
    bn = model.get_layer("bn1")
    return {
        "losses": log.losses,
        "bn_statistics": np.concatenate(
            [
                keras.ops.convert_to_numpy(bn.moving_mean),
                keras.ops.convert_to_numpy(bn.moving_variance),
            ]
        ).tolist(),
        "strengths": log.strengths,
        "kept": _kept(penalty, model, controller.threshold),
        "distributed": _state(penalty),
    }


def _teacher(strategy):
    """A teacher with BN (inference mode under the Distiller)."""
    keras.utils.set_random_seed(3)
    with strategy.scope():
        return conv_net(8, "teacher", bn=True)


def distill_controller(strategy):
    """Logits, feature (with adapters) and attention KD, a proximal group
    lasso and a SparsityController updating every two steps."""
    teacher = _teacher(strategy)
    keras.utils.set_random_seed(7)
    with strategy.scope():
        student = conv_net(6, "student")
        penalty = tfc.GroupLasso(0.1, proximal=True)
        distiller = tfc.Distiller(
            teacher,
            student,
            [
                tfc.LogitsKD(2.0),
                tfc.FeatureKD([("r1", "r1"), ("r2", "r2")]),
                tfc.AttentionTransfer([("r2", "r2")]),
            ],
            distillation_loss_weights=[1.0, 0.5, 0.5],
            sparsity=penalty,
        )
        distiller.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=_loss(),
            metrics=["accuracy"],
        )
    x, y = data()
    xv, yv = data(24, seed=1)
    controller = tfc.callbacks.SparsityController(
        data=(xv, yv),
        metric="loss",
        setpoint=0.5,
        gain=1.0,
        update_every=2,
        max_strength=1.0,
        threshold=1e-3,
    )
    log = StepLog(controller)
    _fit(distiller, x, y, 2, [controller, log], validation_data=(xv, yv))
    slim = tfc.prune(student, threshold=controller.threshold)
    return {
        "losses": log.losses,
        "val_losses": log.val_losses,
        "accuracies": log.accuracies,
        "strengths": log.strengths,
        "thresholds": log.thresholds,
        "gap": controller.last_gap,
        "widths": _widths(slim),
        "distributed": _state(penalty),
    }


def contrastive(strategy):
    """Contrastive KD with a memory bank, plus logits KD."""
    teacher = _teacher(strategy)
    keras.utils.set_random_seed(9)
    with strategy.scope():
        student = conv_net(4, "student")
        distiller = tfc.Distiller(
            teacher,
            student,
            [
                tfc.LogitsKD(),
                tfc.ContrastiveKD(
                    "gap", "gap", embedding_dim=4, memory_size=2 * BATCH
                ),
            ],
        )
        distiller.compile(optimizer=keras.optimizers.SGD(0.1), loss=_loss())
    x, y = data(24)
    log = StepLog()
    _fit(distiller, x, y, 2, [log])
    heads = distiller.kd_modules[0]
    bank = np.asarray(keras.ops.convert_to_numpy(heads.bank))
    return {
        "losses": log.losses,
        "bank_pointer": int(_number(heads.bank_pointer)),
        # Row order inside one global batch is the strategy's to choose.
        "bank": sorted(np.round(bank, 5).tolist()),
    }


def budget(strategy, blocks=None):
    """A BudgetController steering a proximal penalty to half the MACs."""
    teacher = _teacher(strategy)
    keras.utils.set_random_seed(5)
    with strategy.scope():
        student = conv_net(6, "student")
        penalty = tfc.GroupLasso(0.01, proximal=True)
        distiller = tfc.Distiller(
            teacher, student, [tfc.LogitsKD()], sparsity=penalty
        )
        distiller.compile(optimizer=keras.optimizers.SGD(0.1), loss=_loss())
    x, y = data()
    controller = tfc.callbacks.BudgetController(
        target_macs=0.5, blocks=blocks, update_every=1, ramp=None
    )
    log = StepLog(controller)
    _fit(distiller, x, y, 3, [controller, log])
    slim = tfc.prune(student, threshold=controller.threshold)
    out = {
        "losses": log.losses,
        "strengths": log.strengths,
        "thresholds": log.thresholds,
        "threshold": float(controller.threshold),
        "widths": _widths(slim),
        "distributed": _state(penalty),
    }
    if penalty.channel_scales is not None:
        out["scales"] = keras.ops.convert_to_numpy(
            penalty.channel_scales
        ).tolist()
    return out


def budget_blocks(strategy):
    """A per-block BudgetController (one strength scale per block)."""
    return budget(strategy, blocks={"first": ["c1"], "second": ["c2"]})


def gradual(strategy):
    """A Sparsifier (no penalty) with GradualPruning to half the MACs."""
    keras.utils.set_random_seed(4)
    with strategy.scope():
        model = conv_net(6, "model")
        trainer = tfc.Sparsifier(model)
        trainer.compile(optimizer=keras.optimizers.SGD(0.1), loss=_loss())
    x, y = data()
    pruning = tfc.callbacks.GradualPruning(
        target_macs=0.5, end_step=6, frequency=2
    )
    log = StepLog()
    _fit(trainer, x, y, 2, [pruning, log])
    slim = tfc.slim(model, pruning.masks)
    return {
        "losses": log.losses,
        "updates": [entry["step"] for entry in pruning.updates],
        "widths": _widths(slim),
        "distributed": _distributed(pruning.mask),
    }


def iterative(strategy):
    """A Distiller with IterativePruning; the mask lives in the penalty."""
    teacher = _teacher(strategy)
    keras.utils.set_random_seed(6)
    with strategy.scope():
        student = conv_net(6, "student")
        distiller = tfc.Distiller(
            teacher,
            student,
            [tfc.LogitsKD()],
            sparsity=tfc.GroupLasso(1e-3),
        )
        distiller.compile(optimizer=keras.optimizers.SGD(0.1), loss=_loss())
    x, y = data()
    pruning = tfc.callbacks.IterativePruning(target_macs=0.5, fraction=0.3)
    log = StepLog()
    _fit(distiller, x, y, 3, [pruning, log])
    slim = tfc.slim(student, pruning.masks)
    return {
        "losses": log.losses,
        "widths": _widths(slim),
        "distributed": _state(distiller.sparsity),
    }


class PenaltyTrainer(multi_worker_fit.MultiWorkerFit, keras.Model):
    """A user's own training model carrying a penalty (for ProximalStep)."""

    def __init__(self, model, sparsity, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.sparsity = sparsity

    def call(self, x, training=None):
        return self.model(x, training=training)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        penalty = self.sparsity(self.model)
        return loss + distribute.scale_for_replicas(penalty)


def proximal_step(strategy):
    """A custom trainer whose proximal penalty ProximalStep applies."""
    keras.utils.set_random_seed(8)
    with strategy.scope():
        model = conv_net(6, "model")
        trainer = PenaltyTrainer(model, tfc.GroupLasso(0.2, proximal=True))
        trainer.compile(optimizer=keras.optimizers.SGD(0.1), loss=_loss())
    x, y = data()
    log = StepLog()
    _fit(trainer, x, y, 2, [tfc.callbacks.ProximalStep(), log])
    norms = keras.ops.convert_to_numpy(trainer.sparsity.channel_values(model))
    slim = tfc.prune(model, threshold=1e-12)
    return {
        "losses": log.losses,
        "zeros": int(np.sum(norms == 0.0)),
        "widths": _widths(slim),
    }


def compress_small_last_batch(strategy):
    """`tfc.compress` on `2 * BATCH + 1` examples: its last batch of one
    leaves one of two replicas without an example."""
    from tf_compact.pipeline import plan

    teacher = _teacher(strategy)
    x, y = data(2 * BATCH + 1)
    stages = [
        stage
        for stage in plan.stages_for("oneshot")
        if stage.name not in ("tflite", "benchmark")
    ]
    keras.utils.set_random_seed(6)
    result = tfc.compress(
        teacher,
        (x, y),
        (x, y),
        batch_size=BATCH,
        method=tfc.methods.OneShot(target_macs=0.5),
        epochs=1,
        training=tfc.methods.Training(finetune_epochs=1),
        stages=stages,
        strategy=strategy,
        verbose=0,
    )
    weights = result.slim_model.weights
    finite = all(bool(np.isfinite(w.numpy()).all()) for w in weights)
    return {"finite": finite, "widths": _widths(result.slim_model)}


SCENARIOS = {
    "distill_controller": distill_controller,
    "contrastive": contrastive,
    "budget": budget,
    "budget_blocks": budget_blocks,
    "gradual": gradual,
    "sparsifier_controller": sparsifier_controller,
    "bn_gamma": bn_gamma,
    "iterative": iterative,
    "proximal_step": proximal_step,
    "compress_small_last_batch": compress_small_last_batch,
}
