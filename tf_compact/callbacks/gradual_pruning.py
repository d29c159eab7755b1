"""`GradualPruning`: structured pruning on a polynomial schedule."""

import keras
import numpy as np

from tf_compact.callbacks.iterative_pruning import IterativePruning
from tf_compact.internal.user_warning import warn
from tf_compact.internal.validation import validate_int
from tf_compact.internal.validation import validate_positive
from tf_compact.pruning.prune import prune_masks

#: Share of the fit after `begin_step` that `end_step="auto"` prunes over.
SHARE = 2 / 3


@keras.saving.register_keras_serializable(package="tf_compact")
class GradualPruning(IterativePruning):
    """Shrinks the model's channels step by step to a MACs/params budget.

    The structured counterpart of gradual magnitude pruning: from
    `begin_step` to `end_step` (optimizer steps), every `frequency` steps,
    the kept fraction of each target follows the cubic schedule

        keep(t) = target + (1 - target) * (1 - p) ** exponent,
        p = (t - begin_step) / (end_step - begin_step),

    and the channels are masked with `tfc.pruning.prune_masks` at that
    intermediate budget (global ranking of `importance`, widths rounded to
    `round_to`). Masked channels have all their coupled weights (producer
    kernel and bias, BN gamma and beta) set to zero after every step, so
    the network never loses more than a small slice of its function at
    once, and the training in between (with a `tfc.Distiller`, knowledge
    distillation) repairs it. From `end_step` on the mask is the final
    one, which meets every target; `tfc.slim(model, callback.masks)` then
    builds the slim model with the same function as the masked one.

    Zeroed channels score 0 under the `"l2"` and `"l1"` criteria, so each
    update keeps what the previous one removed out, and the mask shrinks
    monotonically in practice. The step count is the optimizer's, so a run
    resumed by `keras.callbacks.BackupAndRestore` picks up the schedule
    where it stopped; the mask is recomputed at the start of training.
    Calling `fit` again with the same callback and model continues from
    the mask reached (and from the schedule, whose `end_step="auto"` was
    set by the first fit): masked channels stay masked, and a later fit
    past `end_step` fine-tunes at the final widths.
    Logs `slim_macs_fraction`, `slim_params_fraction` and `group_sparsity`
    at every epoch end; `updates` lists every mask update (step, the
    schedule's goals and the fractions reached).

    When fit starts with `end_step` past its last step (`epochs` times
    the steps of an epoch, from the optimizer's current step), the
    callback warns with the budget the schedule reaches by then; when
    training ends with the budget missed, it warns by how much.

    Args:
        target_macs: MACs to keep: a fraction of the model's (a float in
            (0, 1]) or an absolute count (an int >= 2).
            Defaults to `None`.
        target_params: Parameters to keep, likewise. At least one target.
            Defaults to `None`.
        end_step: Step at which the final budget is reached (> begin_step),
            or `"auto"`: `SHARE` (two thirds) of the fit's `epochs` times
            its steps per epoch after `begin_step`, set when fit starts
            (the fit is taken to start the schedule, as a fresh or a
            resumed run does; give a step to continue a finished one). Two
            thirds suits most runs, leaving the rest to recover at the
            final widths. Defaults to `"auto"`.
        begin_step: First step of the schedule. Defaults to `0`.
        frequency: Steps between mask updates. Defaults to `20`.
        exponent: Power of the schedule; larger prunes more early.
            Defaults to `3`.
        importance: Criterion of `tfc.group_importance` (`"l2"`, `"l1"`,
            `"bn_gamma"`). Defaults to `"l2"`.
        round_to: Kept widths are rounded up to a multiple of this, or
            `None`. Defaults to `None`.
        min_channels: Every group keeps at least this many channels.
            Defaults to `1`.
        verbose: `1` prints every mask update. Defaults to `0`.

    Raises:
        ValueError: If an argument is invalid, or (when fit starts) if
            `end_step="auto"` and the fit's steps per epoch are unknown, or
            `target_macs` is given and an input of the model takes any size.

    Example:

    ```python
    pruning = tfc.callbacks.GradualPruning(
        target_macs=0.25, target_params=0.1, round_to=8
    )
    distiller = tfc.Distiller(teacher, student, [tfc.LogitsKD()])
    distiller.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    distiller.fit(data, epochs=4, callbacks=[pruning])
    slim = tfc.slim(student, pruning.masks)
    ```
    """

    def __init__(
        self,
        target_macs=None,
        target_params=None,
        end_step="auto",
        begin_step=0,
        frequency=20,
        exponent=3,
        importance="l2",
        round_to=None,
        min_channels=1,
        verbose=0,
    ):
        super().__init__(
            target_macs=target_macs,
            target_params=target_params,
            importance=importance,
            verbose=verbose,
        )
        self.begin_step = _step_arg("begin_step", begin_step, minimum=0)
        #: The `end_step` given: a step or `"auto"`.
        self.given_end_step = end_step
        #: The step at which the budget is reached; `None` until fit
        #: starts when it is `"auto"`.
        self.end_step = None
        if end_step != "auto":
            self.end_step = _step_arg("end_step", end_step, minimum=1)
        if self.end_step is not None and self.end_step <= self.begin_step:
            raise ValueError(
                "Invalid value for argument `end_step`. Expected a step "
                f"after `begin_step` ({self.begin_step}). Received: "
                f"end_step={end_step!r}"
            )
        self.frequency = _step_arg("frequency", frequency, minimum=1)
        self.exponent = validate_positive("exponent", exponent)
        if round_to is not None:
            round_to = _step_arg("round_to", round_to, minimum=1)
        self.round_to = round_to
        self.min_channels = _step_arg("min_channels", min_channels, minimum=1)
        self._updated_at = None
        self._masking = False
        self._resume_pending = False
        #: One dict per mask update: `step`, `goal_<kind>`, `<kind>_fraction`.
        self.updates = []

    def schedule(self, step):
        """`{kind: fraction to keep}` of every target at optimizer `step`."""
        if self.end_step is None:
            raise ValueError(
                "GradualPruning: end_step='auto' is set when fit starts, from "
                "its epochs and steps; there is no schedule before."
            )
        span = self.end_step - self.begin_step
        progress = min(max((step - self.begin_step) / span, 0.0), 1.0)
        shrink = (1.0 - progress) ** self.exponent
        return {
            kind: target + (1.0 - target) * shrink
            for kind, target in self.targets.items()
        }

    def _step(self):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return 0
        return int(keras.ops.convert_to_numpy(optimizer.iterations))

    def last_update_step(self, step):
        """The latest scheduled update at or before `step`, or None."""
        if step < self.begin_step:
            return None
        if step >= self.end_step:
            return self.end_step
        done = (step - self.begin_step) // self.frequency
        return self.begin_step + done * self.frequency

    def _resume(self):
        # Training restarted past the start of the schedule (a resumed
        # run): rebuild the mask of the last update before the next step.
        if self._updated_at is None:
            last = self.last_update_step(self._step())
            if last is not None and last > self.begin_step:
                self.update(last)

    def _reset_schedule(self):
        self._updated_at = None
        self._last_step = -1
        self._masking = False
        self.updates = []
        if self.given_end_step == "auto":
            self.end_step = None

    def on_train_begin(self, logs=None):
        if (self.params or {}).get("epochs") == 0:
            return  # nothing trains: no schedule to set or warn about
        self._masking = bool(np.any(keras.ops.convert_to_numpy(self.mask) == 0))
        if self._masking:
            self._apply()
        if self.end_step is None:
            self.end_step = self._auto_end_step()
        self._resume()
        self._resume_pending = True
        self._warn_short_training()

    def _auto_end_step(self):
        params = self.params or {}
        epochs, steps = params.get("epochs"), params.get("steps")
        if not epochs or not steps:
            raise ValueError(
                "GradualPruning: end_step='auto' needs the fit's steps per "
                "epoch, which are unknown here (a dataset of unknown size). "
                "Pass `steps_per_epoch` to fit, or an `end_step`. Received: "
                f"epochs={epochs}, steps={steps}"
            )
        span = round(SHARE * int(epochs) * int(steps))
        return self.begin_step + max(1, span)

    def _warn_short_training(self):
        params = self.params or {}
        epochs, steps = params.get("epochs"), params.get("steps")
        if not epochs or not steps:
            return
        start = self._step()
        last = start + int(epochs) * int(steps)
        if last >= self.end_step:
            return
        goals = self.schedule(last)
        reached = ", ".join(
            f"{goals[kind]:.1%} of the {kind} instead of "
            f"target_{kind}={target:.1%}"
            for kind, target in self.targets.items()
        )
        warn(
            f"GradualPruning: end_step={self.end_step} lies past the end of "
            f"training: fit stops at optimizer step {last} (from step "
            f"{start}, epochs={int(epochs)} x steps={int(steps)}), where "
            f"the schedule keeps {reached}. Set end_step <= {last} (about "
            "two thirds of it suits most runs) or train longer.",
        )

    def on_train_batch_begin(self, batch, logs=None):
        # `BackupAndRestore` may restore the step after `on_train_begin`.
        if self._resume_pending:
            self._resume_pending = False
            self._resume()

    def on_train_batch_end(self, batch, logs=None):
        # Re-zero first, so every update ranks the weights it leaves.
        if self._masking:
            self._apply()
        step = self._step()
        due = step >= self.begin_step and (
            (step - self.begin_step) % self.frequency == 0
            or (step >= self.end_step and self._updated_at != self.end_step)
        )
        if due:
            self.update(min(step, self.end_step))

    def on_epoch_end(self, epoch, logs=None):
        self._log_cost(logs)

    def update(self, step):
        """Masks the channels the schedule removes by `step`, zeroes them."""
        if self._updated_at == step:
            return
        goals = self.schedule(step)
        self._updated_at = step
        # A later fit whose optimizer counts from 0 again (recompiled)
        # replays the schedule from dense: the masks reached stay until
        # the schedule asks for less.
        replayed = step <= getattr(self, "_last_step", -1)
        self._last_step = max(step, getattr(self, "_last_step", -1))
        if all(value >= 1.0 for value in goals.values()):
            return
        reached = self.cost(keras.ops.convert_to_numpy(self.mask) > 0)
        if replayed and all(
            self._fraction_of(reached, k) <= goals[k] for k in goals
        ):
            return
        masks = prune_masks(
            self.pruned_model,
            **{f"target_{kind}": value for kind, value in goals.items()},
            importance=self.importance,
            round_to=self.round_to,
            min_channels=self.min_channels,
            graph=self.plan.graph,
        )
        keep = np.concatenate(
            [
                np.asarray(masks.get(name, np.ones(size, bool)), bool)
                for name, size in zip(
                    self.plan.group_names, self.plan.group_channels
                )
            ]
        )
        self.mask.assign(keep.astype("float32"))
        self._masking = not keep.all()
        self._apply()
        cost = self.cost(keep)
        entry = {"step": int(step)}
        for kind in self.targets:
            entry[f"goal_{kind}"] = float(goals[kind])
            entry[f"{kind}_fraction"] = float(self._fraction_of(cost, kind))
        self.updates.append(entry)
        if self.verbose:
            reached = ", ".join(
                f"{kind} {self._fraction_of(cost, kind):.3f} "
                f"(goal {goals[kind]:.3f})"
                for kind in self.targets
            )
            print(f"GradualPruning: step {step}, {reached}")

    def get_config(self):
        return {
            "target_macs": self.given_targets.get("macs"),
            "target_params": self.given_targets.get("params"),
            "end_step": self.given_end_step,
            "begin_step": self.begin_step,
            "frequency": self.frequency,
            "exponent": self.exponent,
            "importance": self.importance,
            "round_to": self.round_to,
            "min_channels": self.min_channels,
            "verbose": self.verbose,
        }


def _step_arg(name, value, minimum):
    return validate_int(name, value, minimum=minimum)
