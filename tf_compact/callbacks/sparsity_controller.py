"""`SparsityController`: proportional control of the sparsity strength."""

import math

import keras
import numpy as np
import tensorflow as tf

from tf_compact.callbacks import gap_scores as scores
from tf_compact.callbacks.penalty_controller import PenaltyController
from tf_compact.callbacks.penalty_controller import controller_arguments
from tf_compact.internal import batch_norm
from tf_compact.internal.user_warning import warn
from tf_compact.internal.validation import validate_bool
from tf_compact.internal.validation import validate_number
from tf_compact.sparsity import validation

_DEFAULT_SETPOINTS = {"loss": 0.05, "accuracy": 0.01}


@keras.saving.register_keras_serializable(package="tf_compact")
class SparsityController(PenaltyController):
    """Sets the sparsity strength from the gap between student and teacher.

    The student may sparsify as long as it keeps up with its reference (the
    teacher of a `tfc.Distiller`, or the model's own score when training
    starts). At each update `k` the controller measures the gap

    - `g_k = L_student - L_reference` with `metric="loss"` (cross-entropy),
    - `g_k = A_reference - A_student` with `metric="accuracy"`,

    on the held-out batch `data`, or on the epoch's logs when `monitor` is
    given, and applies the control law

    ```
    e_k = (setpoint - g_k) / setpoint
    f_k = exp(clip(gain * e_k, -log(max_change), log(max_change)))
    lambda_{k+1} = clip(max(lambda_k, min_strength) * f_k,
                        min_strength, max_strength)
    ```

    so `lambda` rises while the gap stays under the allowed `setpoint`
    (`e_k > 0`) and falls when the student lags (`e_k < 0`), by a factor
    proportional in the log domain to the relative error. A non-finite
    loss or gap holds `lambda` and warns. Besides the logs of
    `PenaltyController`, it logs the last gap as `sparsity_gap`.

    The penalty shrinks kernels that BN makes scale-invariant, and a high
    BN momentum lags behind training, so the student's moving BN
    statistics do not match its weights while it trains: scored with
    them, a student that is doing well can look near chance, and the
    controller would lower the strength for a gap that recalibration
    removes. With `batch_statistics=True` every model is scored on `data`
    with each BN normalizing by the statistics of `data`'s inputs, which
    is what the model recalibrated on them scores in inference mode; the
    statistics are computed in the forward pass and nothing of the model
    (its moving statistics included) is changed.

    Args:
        data: Held-out `(x, y)` batch (arrays, `y` as class ids or one-hot)
            on which student and reference are compared, or a
            `tf.data.Dataset` of `(x, y)` batches, of which the first
            `MAX_DATASET_ROWS` (256) samples are read once. It is part of
            `get_config()` (as `x` and the class ids `y`, NumPy arrays that
            `keras.saving.serialize_keras_object` writes as nested lists),
            so keep it small: a few hundred examples. Defaults to `None`,
            which needs `monitor` and a float `reference`.
        metric: `"loss"` or `"accuracy"`. Defaults to `"loss"`.
        setpoint: Allowed gap (> 0). Defaults to `None`: `0.05` for the
            loss, `0.01` for the accuracy.
        gain: Proportional gain `K` on the relative error. Defaults to
            `0.5`.
        reference: `None` (the teacher when the model has one, else the
            model's own score at the start of training) or a float: the
            reference loss or accuracy. Defaults to `None`.
        monitor: Key of the epoch logs holding the student's loss or
            accuracy (e.g. `"val_accuracy"`, or `"val_student_loss"` with
            a `tfc.Distiller`), used instead of `data`; not `"val_loss"`
            of a trainer with a penalty, which includes the penalty
            (fit warns). Then updates happen at epoch ends, and an epoch
            end whose logs lack the key raises. Defaults to `None`.
        threshold: As in `PenaltyController`.
        update_every: As in `PenaltyController`. Defaults to `"epoch"`.
        min_strength: As in `PenaltyController`.
        max_strength: As in `PenaltyController`.
        max_change: As in `PenaltyController`.
        verbose: As in `PenaltyController`.
        recalibrate_data: As in `PenaltyController`.
        recalibrate_batches: As in `PenaltyController`.
        batch_statistics: Score student and reference on `data` with BN
            statistics that match their weights (see above); `False`
            scores with the moving statistics. Has no effect with
            `monitor`. Defaults to `True`.

    Raises:
        ValueError: If an argument is out of range, if neither `data` nor
            `monitor` with a float `reference` is given, when fit starts
            if the model has no penalty to steer or a label of `data` is
            not a class of the model's output, and at an epoch end whose
            logs lack `monitor`.

    Example:

    ```python
    distiller = tfc.Distiller(
        teacher, student, distillation_losses=[tfc.LogitsKD()],
        sparsity=tfc.GroupLasso(1e-5),
    )
    distiller.compile("adam", "sparse_categorical_crossentropy")
    controller = tfc.callbacks.SparsityController(
        data=(x_val[:512], y_val[:512]), metric="accuracy", setpoint=0.01
    )
    distiller.fit(x, y, epochs=10, callbacks=[controller])
    slim = tfc.prune(student, threshold=controller.threshold)
    ```
    """

    def __init__(
        self,
        data=None,
        metric="loss",
        setpoint=None,
        gain=0.5,
        reference=None,
        monitor=None,
        threshold=1e-3,
        update_every="epoch",
        min_strength=1e-6,
        max_strength=1.0,
        max_change=2.0,
        verbose=0,
        recalibrate_data="auto",
        recalibrate_batches=None,
        batch_statistics=True,
    ):
        super().__init__(**controller_arguments(locals()))
        self.metric = validation.validate_choice(
            "metric", metric, tuple(_DEFAULT_SETPOINTS)
        )
        if setpoint is None:
            setpoint = _DEFAULT_SETPOINTS[metric]
        self.setpoint = validation.validate_positive("setpoint", setpoint)
        self.gain = validation.validate_positive("gain", gain)
        self.data = _validate_data(data, monitor, reference)
        if reference is not None:
            reference = validate_number("reference", reference)
        self.reference = reference
        self.monitor = monitor
        self.batch_statistics = validate_bool(
            "batch_statistics", batch_statistics
        )
        if monitor is not None and update_every != "epoch":
            raise ValueError(
                "Invalid value for argument `update_every`. With `monitor`, "
                "the gap is read from the epoch logs: use 'epoch'. "
                f"Received: update_every={update_every!r}"
            )
        self.last_gap = math.nan
        self._reference_state = None
        self._forwards = []
        self._scored_teacher = None

    def _setup(self):
        self._reference_state = self.penalty.state_variable(
            f"reference_{self.metric}", math.nan
        )

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._warned_stale = False
        message = scores.penalized_monitor(self.model, self.monitor)
        if message:
            warn(message)
        if self.reference is not None:
            self._reference_state.assign(float(self.reference))
            return
        teacher = getattr(self.model, "teacher", None)
        if not isinstance(teacher, keras.Model):
            teacher = None
        stored = float(keras.ops.convert_to_numpy(self._reference_state))
        # The teacher is frozen: score it once per controller and teacher.
        fresh = teacher is not None and teacher is not self._scored_teacher
        if fresh or math.isnan(stored):
            value = self._score(teacher or self.target)
            self._reference_state.assign(value)
            self._scored_teacher = teacher

    def _forward(self, model):
        """Returns a traced inference call of `model`, made once.

        With `batch_statistics` and BN layers, the call runs every BN on
        the statistics of its input, read-only (`data` is one batch).
        """
        for known, function in self._forwards:
            if known is model:
                return function
        norms = batch_norm.batch_norm_layers(model)
        if self.batch_statistics and norms:
            run = batch_norm.BatchStatistics(model, norms)

            def function(x):
                with run:
                    return run(x)[0]

        else:
            function = tf.function(
                lambda x: model(x, training=False), autograph=False
            )
        self._forwards.append((model, function))
        return function

    def _score(self, model):
        x, y = self.data
        pred = keras.ops.convert_to_numpy(self._forward(model)(x))
        return scores.score(pred, y, self.metric, model)

    def current_gap(self, logs=None):
        """Returns the gap `g_k` measured now (see the class docstring)."""
        reference = float(keras.ops.convert_to_numpy(self._reference_state))
        if self.monitor is not None:
            if self.monitor not in (logs or {}):
                raise ValueError(
                    f"SparsityController: `monitor`={self.monitor!r} is not "
                    "in the epoch logs. Available keys: "
                    f"{sorted(logs or {})} (`val_` keys need "
                    "`validation_data` in fit). Received: "
                    f"monitor={self.monitor!r}"
                )
            student = float(logs[self.monitor])
            scores.warn_stale_validation(self, logs, student)
        else:
            student = self._score(self.target)
        if self.metric == "loss":
            return student - reference
        return reference - student

    def _update(self, logs):
        gap = self.current_gap(logs)
        self.last_gap = gap
        if not math.isfinite(gap):
            warn(
                f"SparsityController: the gap is {gap}; holding the sparsity "
                "strength.",
            )
            return
        error = (self.setpoint - gap) / self.setpoint
        self._scale_strength(self.penalty.strength, self.gain * error)
        self.say(f"gap={gap:.4f} strength={self.strength_value():.3g}")

    def _log_values(self, report):
        values = super()._log_values(report)
        values["sparsity_gap"] = self.last_gap
        return values

    def get_config(self):
        return {
            **super().get_config(),
            "data": self.data,
            "metric": self.metric,
            "setpoint": self.setpoint,
            "gain": self.gain,
            "reference": self.reference,
            "monitor": self.monitor,
            "batch_statistics": self.batch_statistics,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        data = config.get("data")
        if data is not None:
            # Through `keras.saving`, the arrays arrive serialized.
            config["data"] = tuple(
                keras.saving.deserialize_keras_object(part)
                if isinstance(part, dict)
                else part
                for part in data
            )
        return cls(**config)


#: Samples read from a `data` dataset (it is scored at every epoch end).
MAX_DATASET_ROWS = 256


def _validate_data(data, monitor, reference):
    if data is None:
        if monitor is None or reference is None:
            raise ValueError(
                "SparsityController needs `data=(x, y)`, a held-out batch, "
                "or `monitor` (a key of the epoch logs) together with a "
                "float `reference`. Received: data=None, "
                f"monitor={monitor!r}, reference={reference!r}"
            )
        return None
    if hasattr(data, "element_spec"):
        data = _read_dataset(data)
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(
            "Invalid value for argument `data`. Expected a tuple (x, y) or a "
            f"tf.data.Dataset of (x, y) batches. Received: data of type "
            f"{type(data).__name__}"
        )
    x, y = (np.asarray(a) for a in data)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]  # 0/1 labels of a binary head
    elif y.ndim > 1:
        y = np.argmax(y, axis=-1)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            "Invalid value for argument `data`: x and y must hold the same, "
            f"non-zero number of samples. Received: {len(x)} and {len(y)}"
        )
    whole = y.dtype.kind in "biu" or (
        y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == y // 1)
    )
    if not whole or np.any(y < 0):
        shown = y.ravel()[:4].tolist()
        if y.dtype.kind in "biuf":
            shown = f"in [{np.min(y)}, {np.max(y)}]"
        raise ValueError(
            "Invalid value for argument `data`: y must hold class ids "
            "(ints >= 0) or one-hot rows. Received: y of dtype "
            f"{y.dtype} with values {shown}"
        )
    return x, y.astype("int64")


def _read_dataset(dataset):
    """The first `MAX_DATASET_ROWS` samples of `(x, y[, w])` batches."""
    xs, ys, rows = [], [], 0
    for batch in dataset:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(
                "Invalid value for argument `data`: the dataset must yield "
                "(x, y) batches. Received: an element of type "
                f"{type(batch).__name__}"
            )
        xs.append(np.asarray(batch[0]))
        ys.append(np.asarray(batch[1]))
        rows += len(xs[-1])
        if rows >= MAX_DATASET_ROWS:
            break
    if not xs:
        raise ValueError(
            "Invalid value for argument `data`: the dataset is empty."
        )
    x, y = np.concatenate(xs), np.concatenate(ys)
    return x[:MAX_DATASET_ROWS], y[:MAX_DATASET_ROWS]
