"""Distiller: a keras.Model that trains a student against a frozen teacher."""

import copy

import keras
import tensorflow as tf
from keras import ops

from tf_compact.distillation import compile_args
from tf_compact.distillation import features
from tf_compact.distillation import frozen_teacher
from tf_compact.distillation import keras_compat
from tf_compact.distillation import label_free
from tf_compact.distillation import plan as plan_lib
from tf_compact.distillation import shared_augmentation
from tf_compact.distillation import validation
from tf_compact.internal import fit_data
from tf_compact.internal import multi_worker_fit
from tf_compact.internal import trainer_calls

_serialize = keras.saving.serialize_keras_object
_deserialize = keras.saving.deserialize_keras_object


def _num_replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync


@keras.saving.register_keras_serializable(package="tf_compact")
class Distiller(
    trainer_calls.TrainerCalls,
    label_free.LabelFreeMetrics,
    fit_data.HandsFitData,
    multi_worker_fit.MultiWorkerFit,
    frozen_teacher.FrozenTeacher,
    keras.Model,
):
    """Trains a student to match a frozen teacher; `call` is the student.

    The training loss is

    `α · student_loss + (1 − α) · Σ wᵢ · termᵢ + student_reg_loss
    + sparsity_loss`,

    where `α` is `student_loss_weight`, `student_loss` is the compiled loss
    on the student's output, `termᵢ` are the distillation losses with
    weights `wᵢ`, `student_reg_loss` is the sum of the student's own
    `losses` (kernel regularizers, `add_loss`) and of the adapters', and
    `sparsity_loss` is the optional `sparsity(student)` penalty. On data
    without labels (inputs only) the loss is the distillation alone,
    `Σ wᵢ · termᵢ + student_reg_loss + sparsity_loss`, and the compiled
    metrics are skipped. Each step
    runs the teacher once (inference mode: BatchNorm statistics and weights
    untouched) and the student once, through one multi-output feature
    extractor per model. Adapters and projection heads that the losses need
    are owned and trained by the Distiller and are not part of `student`.
    Logs `loss` (total), `student_loss`, one key per distillation term (for
    example `logits_kd`, `feature_kd`), `student_reg_loss`, `sparsity_loss`
    (when `sparsity` is given) and the compiled metrics on the student's
    output.

    Classifiers that end in a softmax or sigmoid are distilled on the
    tensors before it (the logits), read from the models' graphs (see
    `LogitsKD`): every distillation term that reads the final output, or a
    layer whose output is the final output, gets the logits. The compiled
    loss follows the student's head: a loss compiled with
    `from_logits=True` gets the student's logits, any other loss its
    probabilities. Integer and one-hot labels are both accepted: they are
    converted to the form the compiled loss expects (sparse or
    categorical). A binary or multi-label student (sigmoid, or a single
    output unit) needs a binary loss such as `BinaryCrossentropy`. Sample
    weights weigh the compiled student loss; the distillation terms
    average over the batch unweighted.

    Under a `tf.distribute` strategy (`MirroredStrategy`,
    `MultiWorkerMirroredStrategy`), build teacher, student and Distiller
    and compile inside `strategy.scope()`: each replica takes its share of
    the global batch and the training follows the one-device run with the
    same global batch (BatchNormalization in the student aside, which
    normalizes per replica unless `synchronized=True`).

    Random augmentation layers that the student applies first to its
    input (`RandomFlip`, `RandomRotation`, ... or a Sequential of them) run
    once per training step, and teacher and student both see the
    augmented batch; augmentation further inside the student reaches the
    student only, and a warning says so.

    Args:
        teacher: A trained `keras.Model`. It is not modified: its variables
            are excluded from training and it always runs with
            `training=False`.
        student: The `keras.Model` to train; `distiller.student` is the
            plain model to export.
        distillation_losses: A loss or list of losses: tf_compact losses
            (`LogitsKD`, `FeatureKD`, `AttentionTransfer`, `ContrastiveKD`)
            and/or `keras.distillation` losses (`LogitsDistillation`,
            `FeatureDistillation`).
        distillation_loss_weights: Weights `wᵢ` >= 0, one per loss.
            Defaults to `None` (all 1).
        student_loss_weight: `α` in [0, 1]. Defaults to `0.5`.
        distilled_output: For teacher and student with several outputs,
            the index or name of the one to distill (the compiled loss, its
            labels and metrics apply to it too); a model with a single
            output uses it. `None` requires single-output models. Defaults
            to `None`.
        sparsity: Optional callable `sparsity(student)` returning a scalar
            penalty (already scaled by its own strength), such as a
            tf_compact group-lasso penalty. Saved with the Distiller. When
            the penalty is proximal (`tfc.GroupLasso(..., proximal=True)`),
            each optimizer step is followed, inside the traced train step,
            by its proximal group soft-thresholding, which sets whole
            channels to exact zeros (no callback needed). Defaults to
            `None`.
        name: Model name. Defaults to `"distiller"`.
        **kwargs: Other `keras.Model` arguments.

    Raises:
        TypeError: If a model or loss has the wrong type, `sparsity` is not
            callable, or a layer name is needed from a subclassed model.
        ValueError: If teacher and student inputs or outputs are
            incompatible (different heads, several outputs and no
            `distilled_output`), a layer name is unknown, or a weight is out of
            range; in `compile`, if the loss does not fit the student's
            head.

    Example:

    ```python
    distiller = tfc.Distiller(
        teacher,
        student,
        distillation_losses=[tfc.LogitsKD(4.0), tfc.FeatureKD()],
        distillation_loss_weights=[1.0, 0.5],
        student_loss_weight=0.3,
    )
    distiller.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    distiller.fit(x_train, y_train, epochs=3)
    distiller.student.save("student.keras")
    ```
    """

    #: Tells `tfc.callbacks.ProximalStep` that the train step already
    #: applies a proximal penalty's step.
    applies_proximal_step = True
    compile_hooks = (compile_args.adapt,)

    def __init__(
        self,
        teacher,
        student,
        distillation_losses,
        distillation_loss_weights=None,
        student_loss_weight=0.5,
        sparsity=None,
        distilled_output=None,
        name="distiller",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.distilled_output = validation.validate_output(distilled_output)
        validation.validate_models(teacher, student, self.distilled_output)
        losses = validation.validate_losses(distillation_losses)
        self.distillation_loss_weights = validation.validate_weights(
            distillation_loss_weights, len(losses)
        )
        self.student_loss_weight = validation.validate_student_weight(
            student_loss_weight
        )
        self.teacher = teacher
        self.student = student
        self.sparsity = validation.validate_sparsity(sparsity)
        if getattr(sparsity, "proximal", False):
            # This train step runs the penalty's hook after every update.
            sparsity.proximal_applied = True
        self._augmentation = shared_augmentation.split(student)
        self._plan = plan_lib.Plan(
            teacher,
            student,
            losses,
            self.distilled_output,
            student_inputs=self._augmentation.output,
        )
        self.kd_modules = self._plan.build_modules(teacher, student)
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.term_trackers = [
            keras.metrics.Mean(name=key) for key in self._plan.keys
        ]
        self.reg_loss_tracker = keras.metrics.Mean(name="student_reg_loss")
        self.sparsity_tracker = None
        if sparsity is not None:
            self.sparsity_tracker = keras.metrics.Mean(name="sparsity_loss")
        self.built = True

    @property
    def distillation_losses(self):
        """The distillation losses, as given."""
        return [keras_compat.original(t) for t in self._plan.terms]

    def call(self, inputs, training=None):
        """Runs the student."""
        return self.student(inputs, training=training)

    def _label_plan(self):
        return self._plan.label_plan(getattr(self, "loss", None))

    def _teacher_forward(self, x):
        feats = self._plan.teacher(x, training=False)
        return keras.tree.map_structure(ops.stop_gradient, feats)

    def _student_loss(self, y, y_pred, logits, sample_weight):
        if self._compile_loss is None or y is None:
            return ops.zeros((), "float32")
        if self._label_plan().use_logits:
            y_pred = logits
        loss = self._compile_loss(y, y_pred, sample_weight)
        if loss is None:
            return ops.zeros((), "float32")
        return plan_lib.to_float(loss) * float(_num_replicas())

    def _forward_losses(self, x, y, sample_weight, teacher_feats, training):
        """Returns `(y_pred, total)` and updates the loss trackers."""
        student_feats = self._plan.student(x, training=training)
        y_pred = student_feats[features.FINAL]
        logits = student_feats[features.LOGITS]
        student_loss = self._student_loss(y, y_pred, logits, sample_weight)
        values = self._plan.term_values(
            teacher_feats, student_feats, self.kd_modules, training
        )
        # Without labels the distillation terms are the whole loss.
        alpha = self.student_loss_weight if y is not None else 0.0
        weights = self.distillation_loss_weights
        kd = plan_lib.float_sum(w * v for w, v in zip(weights, values))
        reg_losses = list(self.student.losses)
        for module in self.kd_modules:
            reg_losses.extend(module.losses)
        reg = plan_lib.float_sum(reg_losses)
        total = alpha * student_loss + (1.0 - alpha) * kd + reg
        if self.sparsity is not None:
            penalty = plan_lib.to_float(self.sparsity(self.student))
            total = total + penalty
            self.sparsity_tracker.update_state(penalty)
        self.student_loss_tracker.update_state(student_loss)
        for tracker, value in zip(self.term_trackers, values):
            tracker.update_state(value)
        self.reg_loss_tracker.update_state(reg)
        batch = ops.shape(keras.tree.flatten(x)[0])[0]
        self._loss_tracker.update_state(total, sample_weight=batch)
        return y_pred, total

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """Returns the total distillation loss for a batch.

        Runs teacher and student on `x` (`y_pred` is not used: the student's
        intermediate features are needed too) and updates the loss trackers.

        Args:
            x: Input batch.
            y: Targets (integer or one-hot), or `None`.
            y_pred: Ignored.
            sample_weight: Optional sample weights for the student loss.
            training: Whether the student runs in training mode.

        Returns:
            The scalar total loss (per replica, not scaled for distribution).
        """
        del y_pred
        shown, x = shared_augmentation.augment(self._augmentation, x, training)
        teacher_feats = self._teacher_forward(shown)
        y = self._prepare_labels(y)
        return self._forward_losses(
            x, y, sample_weight, teacher_feats, training
        )[1]

    def train_step(self, data):
        """One optimizer step on the student (and adapters); returns logs."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y = self._prepare_labels(y)
        shown, x = shared_augmentation.augment(self._augmentation, x, True)
        teacher_feats = self._teacher_forward(shown)
        with tf.GradientTape() as tape:
            y_pred, total = self._forward_losses(
                x, y, sample_weight, teacher_feats, training=True
            )
            loss = total / float(_num_replicas())
            if self.optimizer is not None:
                loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_weights
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        step = getattr(self.sparsity, "after_optimizer_step", None)
        if step is not None:
            step(self.optimizer.learning_rate)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _prepare_labels(self, y):
        if y is None:
            return None
        y = self._plan.select_labels(y)
        return self._label_plan().convert(y)

    def test_step(self, data):
        """Computes every loss term and metric on a batch; returns logs."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y = self._prepare_labels(y)
        shown, x = shared_augmentation.augment(self._augmentation, x, False)
        teacher_feats = self._teacher_forward(shown)
        y_pred, _ = self._forward_losses(
            x, y, sample_weight, teacher_feats, training=False
        )
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def get_config(self):
        """Returns the constructor arguments, nested objects serialized."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            "teacher": _serialize(self.teacher),
            "student": _serialize(self.student),
            "distillation_losses": [
                plan_lib.with_pairs(_serialize(loss), pairs)
                for loss, pairs in zip(
                    self.distillation_losses, self._plan.pairs
                )
            ],
            "distillation_loss_weights": list(self.distillation_loss_weights),
            "student_loss_weight": self.student_loss_weight,
            "sparsity": (
                None if self.sparsity is None else _serialize(self.sparsity)
            ),
            "distilled_output": self.distilled_output,
        }

    @classmethod
    def from_config(cls, config):
        """Creates a Distiller from `get_config()`'s output."""
        config = copy.deepcopy(config)
        for key in ("teacher", "student"):
            config[key] = _deserialize(config[key])
        config["distillation_losses"] = [
            _deserialize(loss) for loss in config["distillation_losses"]
        ]
        if config.get("sparsity") is not None:
            config["sparsity"] = _deserialize(config["sparsity"])
        return cls(**config)
