"""Shared plumbing of the callbacks that steer a sparsity penalty."""

import inspect
import math

import keras
import numpy as np

from tf_compact.callbacks import silence
from tf_compact.callbacks import train_end
from tf_compact.callbacks.control_laws import LawContext
from tf_compact.callbacks.control_laws import bounded_exp
from tf_compact.callbacks.control_laws import scale_strength
from tf_compact.callbacks.penalty_target import find_penalty
from tf_compact.callbacks.penalty_target import proximal_warning
from tf_compact.internal import distribute
from tf_compact.internal.user_warning import warn
from tf_compact.sparsity import report as report_lib
from tf_compact.sparsity import validation

#: Updates over one fit with `update_every="auto"`.
UPDATES_PER_RUN = 48


class PenaltyController(train_end.TrainEndWork, keras.callbacks.Callback):
    """Base class of the callbacks that steer a sparsity penalty's strength.

    Finds the penalty on the model being fit (`model.sparsity`, as set by
    `tfc.Distiller(..., sparsity=...)` and `tfc.Sparsifier`) and the model
    it regularizes (`model.student` or `model.model`), updates the strength
    every `update_every` steps or at each epoch end through `_update`, and
    writes `sparsity_strength`, `group_sparsity` (fraction of channels
    whose norm is `< threshold`) and `slim_macs_fraction` (MACs of the
    slim model a prune at `threshold` would give, over the dense model's)
    into the epoch `logs`, so History, CSVLogger and TensorBoard record
    them (put the controller before CSVLogger/TensorBoard in `callbacks`).

    The state that must survive an interruption lives in variables of the
    penalty (its strength, per-channel scales and named states) and in the
    optimizer's step counter, all saved by `save_weights`, so
    `keras.callbacks.BackupAndRestore` resumes a controller exactly.

    Args:
        threshold: Channel norm below which a channel counts as zero, as
            in `tfc.prune(model, threshold=...)`. Defaults to `1e-3`.
        update_every: `"epoch"`, a number of optimizer steps between
            updates, or `"auto"`: `UPDATES_PER_RUN` updates spread evenly
            over the fit's `epochs * steps` (so the number of updates does
            not depend on the dataset's size; once per epoch when the steps
            per epoch are unknown). Defaults to `"epoch"`.
        min_strength: Lower bound of the strength. Defaults to `1e-6`.
        max_strength: Upper bound of the strength. Defaults to `1.0`.
        max_change: Largest factor by which one update may multiply or
            divide the strength. Defaults to `2.0`.
        verbose: `0` silent, `1` prints each update. Defaults to `0`.
        recalibrate_data: Training inputs (as in
            `tfc.sparsity.recalibrate_batch_norm`: arrays, an `(x, y)`
            tuple or a dataset) from which the regularized model's BN
            moving statistics are recomputed when training ends; `"auto"`
            takes the data `fit` was given when `tfc.Sparsifier` or
            `tfc.Distiller` trains (else warns), less the last
            `validation_split` of its arrays, which Keras validates on;
            `None` leaves them. The penalty shrinks kernels that BN makes
            scale-invariant, so the statistics lag the weights;
            `tfc.prune` carries the recomputed ones into the slim model.
            A callback after this one that sets the weights
            (`keras.callbacks.EarlyStopping(restore_best_weights=True)`)
            has this work redone, with a warning, when `threshold` is
            next read (see `train_end`). Defaults to `"auto"`.
        recalibrate_batches: At most this many batches of
            `recalibrate_data`; `None` uses all (100 with `"auto"`).
            Defaults to `None`.

    Raises:
        ValueError: If an argument is out of range, or (when fit starts) if
            the model has no penalty to steer.

    Example:

    ```python
    controller = tfc.callbacks.SparsityController(
        monitor="val_accuracy", metric="accuracy", reference=0.9
    )
    isinstance(controller, tfc.callbacks.PenaltyController)  # True
    trainer.fit(x, y, validation_split=0.25, epochs=2,
                callbacks=[controller])
    print(controller.strength_value())
    print(controller.measure().table())
    ```
    """

    #: Whether the controller's goal needs groups at exact zero.
    wants_exact_zeros = False

    def __init__(
        self,
        threshold=1e-3,
        update_every="epoch",
        min_strength=1e-6,
        max_strength=1.0,
        max_change=2.0,
        verbose=0,
        recalibrate_data="auto",
        recalibrate_batches=None,
    ):
        super().__init__()
        self.threshold = validation.validate_non_negative(
            "threshold", threshold
        )
        self.auto_schedule = update_every == "auto"
        if self.auto_schedule:
            update_every = 1
        self.update_every = validation.validate_update_every(
            "update_every", update_every
        )
        self.min_strength, self.max_strength = validation.validate_bounds(
            min_strength, max_strength
        )
        self.max_change = validation.validate_max_change(
            "max_change", max_change
        )
        self.verbose = int(verbose)
        if isinstance(recalibrate_data, str) and recalibrate_data != "auto":
            raise validation.invalid(
                "recalibrate_data",
                '"auto", None or training inputs',
                recalibrate_data,
            )
        self.recalibrate_data = recalibrate_data
        self.recalibrate_batches = recalibrate_batches
        if recalibrate_batches is not None:
            validation.validate_positive(
                "recalibrate_batches", recalibrate_batches
            )
        if self.update_every != "epoch":
            # Hook the batch end only when it has work to do: when no
            # callback overrides it, Keras dispatches batch ends off the
            # training loop's thread.
            self.on_train_batch_end = self._update_on_batch_end
        self.penalty = None
        self.target = None
        self.last_report = None
        self._window = 0

    def set_model(self, model):
        super().set_model(model)
        self._train_end.disarm()
        self.penalty, self.target = find_penalty(model, type(self).__name__)
        self.penalty.bind(self.target)
        # State variables live where the model's do (mirrored if need be).
        with distribute.scope_of(model):
            self._setup()

    #: Tells a trainer's `fit` that this callback raises the penalty on
    #: purpose (`fit_data.warn_loss_monitors`).
    steers_penalty = True

    def _setup(self):
        """Creates the controller's state variables (before any restore)."""

    def _finish_training(self, data):
        """Zeroes every weight of the channels under the threshold (see
        `silence`), then recalibrates BN."""
        silence.silence_under(self, self._threshold)
        super()._finish_training(data)

    def run_steps(self):
        """Returns the optimizer steps of the whole fit, or `None` when the
        steps per epoch are unknown."""
        params = getattr(self, "params", None) or {}
        steps, epochs = params.get("steps"), params.get("epochs")
        if not steps or not epochs:
            return None
        return int(steps) * int(epochs)

    def updates_per_run(self):
        """Returns how many updates the fit will make (at least 1)."""
        if self.update_every == "epoch":
            params = getattr(self, "params", None) or {}
            return max(1, int(params.get("epochs") or 1))
        steps = self.run_steps()
        if steps is None:
            return 1
        return max(1, steps // self.update_every)

    def _plan_schedule(self):
        """With `update_every="auto"`, spaces `UPDATES_PER_RUN` updates
        over the fit's steps (once per epoch when they are unknown)."""
        if not self.auto_schedule:
            return
        steps = self.run_steps()
        if steps is None:
            self.update_every = "epoch"
        else:
            self.update_every = max(1, -(-steps // UPDATES_PER_RUN))

    def on_epoch_begin(self, epoch, logs=None):
        # After every `on_train_begin`, so after a BackupAndRestore restore.
        if self.update_every != "epoch":
            self._window = self._optimizer_step() // self.update_every

    def on_train_begin(self, logs=None):
        self._plan_schedule()
        self._train_end.disarm()
        message = proximal_warning(self)
        if message:
            warn(message)

    def _update(self, logs):
        raise NotImplementedError

    def measure(self, threshold=None, values=None):
        """Returns the `tfc.SparsityReport` of the steered model now.

        Args:
            threshold: Defaults to `None`, which uses `self.threshold`.
            values: Per-channel norms, when already computed. Defaults to
                `None`, which computes them.
        """
        plan = self.penalty.plan
        current = self.threshold  # after training, may redo its end first
        if values is None:
            values = np.asarray(self.penalty.channel_values(self.target))
        threshold = current if threshold is None else threshold
        return report_lib.build_report(
            plan, values, threshold, self._report_blocks()
        )

    def _report_blocks(self):
        return None

    def _update_on_batch_end(self, batch, logs=None):
        """Updates every `update_every` optimizer steps (bound as the
        `on_train_batch_end` hook when `update_every` is a number)."""
        if self.update_every == "epoch":
            return
        step = self._optimizer_step()
        # A window is due when `step` crossed a multiple of `update_every`
        # (with `steps_per_execution > 1` it may not land on one).
        window = step // self.update_every
        if window > self._window:
            self._window = window
            self._guarded_update(logs or {})

    def _optimizer_step(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_epoch_end(self, epoch, logs=None):
        if self.update_every == "epoch":
            self._guarded_update(logs or {})
        self.last_report = self.measure()
        if logs is not None:
            logs.update(self._log_values(self.last_report))

    def _guarded_update(self, logs):
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            warn(
                f"{type(self).__name__}: the training loss is {loss}; "
                "holding the sparsity strength.",
            )
            return
        self._update(logs)

    def _log_values(self, report):
        values = {"sparsity_strength": self.strength_value()}
        values.update(report.logs())
        return values

    def strength_value(self):
        """Returns the penalty's current strength as a float."""
        return float(keras.ops.convert_to_numpy(self.penalty.strength))

    def _scale_strength(self, variable, log_factor):
        """Multiplies `variable` by `exp(log_factor)`, limited and bounded
        (`bounded_exp`: the exponent is clipped to `+-log(max_change)`)."""
        factor = bounded_exp(log_factor, self.max_change)
        value = np.asarray(keras.ops.convert_to_numpy(variable))
        value = scale_strength(value, factor, self.law_context())
        variable.assign(value.astype("float32"))

    def penalty_variable(self, name, enable):
        """Returns the penalty's variable `name`, made by `enable(model)`
        (e.g. `penalty.enable_channel_weights`) if new.

        A train step traced before the variable existed would ignore it, so
        a new variable drops the model's traced functions (fit traces them
        again after the callbacks are set up).
        """
        existed = getattr(self.penalty, name, None) is not None
        variable = enable(self.target)
        if not existed:
            for attr in ("train_function", "test_function"):
                if getattr(self.model, attr, None) is not None:
                    setattr(self.model, attr, None)
        return variable

    def law_context(self):
        """Returns the `LawContext` of this controller and fit."""
        bounds = (self.min_strength, self.max_strength, self.max_change)
        return LawContext(*bounds, self.updates_per_run())

    def say(self, message):
        """Prints `message`, prefixed by the class name, when `verbose`."""
        if self.verbose:
            print(f"{type(self).__name__}: {message}")

    def get_config(self):
        return {
            "threshold": self.threshold,
            "update_every": "auto" if self.auto_schedule else self.update_every,
            "min_strength": self.min_strength,
            "max_strength": self.max_strength,
            "max_change": self.max_change,
            "verbose": self.verbose,
            "recalibrate_batches": self.recalibrate_batches,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def controller_arguments(arguments):
    """Returns the entries of `arguments` that `PenaltyController` takes.

    Subclasses pass their `locals()` from `__init__`, so the base
    arguments are listed once:

    ```python
    super().__init__(**controller_arguments(locals()))
    ```
    """
    names = inspect.signature(PenaltyController.__init__).parameters
    return {name: arguments[name] for name in names if name != "self"}
