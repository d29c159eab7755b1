"""`BudgetController`: steer the sparsity strength to a MACs/params budget."""

import warnings

import keras
import numpy as np

from tf_compact.callbacks import blocks as blocks_lib
from tf_compact.callbacks import targeting
from tf_compact.callbacks.penalty_controller import PenaltyController
from tf_compact.internal.targets import parse_targets
from tf_compact.internal.targets import target_fraction
from tf_compact.sparsity import validation

#: Default upper bound of the strength in targeted mode.
TARGETED_MAX_STRENGTH = 10.0


@keras.saving.register_keras_serializable(package="tf_compact")
class BudgetController(PenaltyController):
    """Steers the sparsity strength until the slim model fits a budget.

    At each update the controller measures the cost `m` of the model that a
    prune at `threshold` would give (MACs or parameters, as a fraction of
    the dense model's) and compares it with the target `t`.

    Targeted (`targeted=True`, the default): the controller first
    chooses the channels that must go, with the global ranking of
    `tfc.prune(model, target_macs=t)` (norm over the mean norm of the
    group's untargeted channels, so the choice stays stable while the
    chosen channels shrink), and writes them into the penalty's
    `channel_weights` (1 penalize, 0 spare): only those channels are
    pushed to zero, the rest of the network trains freely. The strength
    then follows

    ```
    m > t:  e = max(gain * (m - t) / t, r)
            lambda <- lambda * exp(min(e, max(log(max_change), r)))
    m <= t: lambda held
    ```

    so it grows while the targeted channels are not yet below the
    threshold and never grows once the budget is met. The ramp rate
    `r = log(max_strength / min_strength) / (ramp * U)`, with `U` the
    updates of the fit, lets the strength cross its whole range within
    the first `ramp` of the fit; with `update_every="auto"` (`U` fixed,
    spread over `epochs * steps`) the strength's trajectory per fraction
    of the fit does not depend on the dataset's size, and the targeted
    channels reach exact zeros within the epochs given, with Adam (where
    the proximal step outruns the optimizer for `lambda` above about 1)
    as with SGD. `ramp=None` keeps the proportional term alone. Since untargeted
    channels carry no penalty, a strength past the critical value cannot
    kill the whole network at once (what an untargeted penalty does under
    Adam, where every channel shrinks at about the same rate).

    Untargeted (`targeted=False`): every channel is penalized and

    ```
    m > t:                   e = (m - t) / t
    t - tolerance <= m <= t: e = 0 (lambda held)
    m < t - tolerance:       e = (m - t + tolerance) / t
    lambda <- lambda * exp(clip(gain * e, -log(max_change), log(max_change)))
    ```

    The exponent is clipped before `exp`, so the law stays finite for any
    gain and any target, however small.

    (`lambda` limited to `[min_strength, max_strength]`). So the strength
    rises until the budget is met, then holds, and eases off if the model
    overshoots the budget by more than `tolerance`.

    With `blocks`, the budget applies to each block separately: each block
    has its own strength (kept in the penalty's `channel_scales`, so it is
    saved and restored) steered by the law above from the block's own cost
    `m_b`, a channel belongs to the block of the layer that produces it,
    and a block's cost counts the MACs (or parameters) of its own layers.
    Targeted, the channels each block must lose are chosen block by block
    (`targeting.BlockSearch`: the block's lowest-ranked channels, as few
    as bring the block's cost, with the other blocks' choices applied,
    under its budget). Channels of groups outside every block are not
    penalized. A block with no prunable channel (typically the `head` of
    `blocks="auto"`: pooling and the classifier, whose output width is
    fixed) cannot be steered: the controller warns and leaves it out of
    the budget (its cost still shrinks with the channels of the block
    before it).

    With both `target_macs` and `target_params` (global budget only), the
    slim model must meet both: the targeted channels are those of
    `tfc.prune(model, target_macs=..., target_params=...)`, and the law
    above is driven by the *binding* target, the one with the largest
    `m / t` at each update.

    When training ends, `threshold` is kept if the slim model meets the
    budget at it (every steered block's budget, with `blocks`): the budget
    was met by sparsity (`met_by_sparsity` is `True`). Else, as a last
    resort, it is raised to the smallest channel norm threshold at which
    the budget is met (with a warning, since this prunes channels whose
    norm is above the threshold used during training), so `tfc.prune(model,
    threshold=controller.threshold)` meets it. Each epoch logs
    `budget_met_by_sparsity` (1.0 when the budget is met at the training
    threshold), and so do the train-end `logs`.

    BN statistics: the penalty shrinks kernels that BN makes
    scale-invariant, so the moving statistics lag and the trained model
    (and the slim one) does worse in inference mode than in training. With
    `recalibrate_data`, the controller recomputes the trained model's BN
    statistics at train end (`tfc.sparsity.recalibrate_batch_norm`), and
    `tfc.prune` carries them into the slim model. Without it, call
    `tfc.sparsity.recalibrate_batch_norm(slim, x_train)` on the slim model
    after `tfc.prune(model, threshold=controller.threshold)`.

    Logs
    the per-block strengths as `sparsity_strength/<block>` and costs as
    `slim_macs_fraction/<block>`; in targeted mode, the fraction of
    channels the penalty acts on as `targeted_fraction`.

    Args:
        target_macs: MACs budget: a fraction of the dense model's (a
            float in (0, 1]) or an absolute count (an int >= 2); see
            `tf_compact.internal.targets`. Defaults to `None`.
        target_params: Parameter budget, like `target_macs`. At least one
            of the two must be given; both only without `blocks`. Defaults
            to `None`.
        blocks: `None` (one global budget), `"auto"` (stages of equal
            resolution plus the head) or `{block name: [layer names] or a
            name prefix}`. Block budgets are fractions of each block's
            dense cost. Defaults to `None`.
        gain: Proportional gain on the relative error. Defaults to `2.0`.
        tolerance: Width of the hold band below the target, as a fraction
            of the dense cost. Defaults to `0.02`.
        max_strength: Upper bound of the strength. Defaults to `None`:
            `TARGETED_MAX_STRENGTH` (10) when targeted, else `1.0`. With
            Adam, a proximal step of `lr * lambda * k_c` outruns the
            optimizer's push on a channel (at most about `lr * k_c`) only
            for `lambda` above about 1.
        targeted: Whether to penalize only the channels the budget
            requires (see above), globally or block by block. Defaults to
            `True`.
        ramp: Fraction of the fit, in (0, 1], within which the strength
            can cross `[min_strength, max_strength]` while over budget, or
            `None` for the proportional law alone. Defaults to `0.3`.
        recalibrate_data: As in `PenaltyController`.
        recalibrate_batches: As in `PenaltyController`.
        threshold: As in `PenaltyController`.
        update_every: As in `PenaltyController`. Defaults to `"auto"`.
        min_strength: As in `PenaltyController`.
        max_change: As in `PenaltyController`.
        verbose: As in `PenaltyController`.

    Raises:
        ValueError: If the targets are missing or out of range, both given
            with `blocks`, if `blocks` is invalid, or (when fit starts) if
            the model has no penalty to steer.

    Example:

    ```python
    penalty = tfc.GroupLasso(1e-4, proximal=True)
    trainer = tfc.Sparsifier(model, sparsity=penalty)
    trainer.compile("adam", "sparse_categorical_crossentropy")
    budget = tfc.callbacks.BudgetController(
        target_macs=0.5, recalibrate_data=x
    )
    trainer.fit(x, y, epochs=10, callbacks=[budget])
    budget.met_by_sparsity  # True: no threshold raise was needed
    slim = tfc.prune(model, threshold=budget.threshold)
    # Without `recalibrate_data`, recalibrate the slim model instead:
    tfc.sparsity.recalibrate_batch_norm(slim, x)
    # Both budgets at once: the slim model meets 25% MACs and 10% params.
    both = tfc.callbacks.BudgetController(target_macs=0.25, target_params=0.1)
    ```
    """

    def __init__(
        self,
        target_macs=None,
        target_params=None,
        blocks=None,
        gain=2.0,
        tolerance=0.02,
        threshold=1e-3,
        update_every="auto",
        min_strength=1e-6,
        max_strength=None,
        max_change=2.0,
        verbose=0,
        targeted=True,
        ramp=0.3,
        recalibrate_data=None,
        recalibrate_batches=None,
    ):
        if max_strength is None:
            max_strength = TARGETED_MAX_STRENGTH if targeted else 1.0
        super().__init__(
            threshold=threshold,
            update_every=update_every,
            min_strength=min_strength,
            max_strength=max_strength,
            max_change=max_change,
            verbose=verbose,
            recalibrate_data=recalibrate_data,
            recalibrate_batches=recalibrate_batches,
        )
        self.target_macs, self.target_params = _validate_targets(
            target_macs, target_params, blocks
        )
        self.blocks = blocks
        self.gain = validation.validate_positive("gain", gain)
        self.tolerance = validation.validate_non_negative(
            "tolerance", tolerance
        )
        self.ramp = ramp
        if ramp is not None and not 0 < ramp <= 1:
            raise ValueError(
                "Invalid value for argument `ramp`. Expected a fraction of "
                f"the fit in (0, 1]. Received: ramp={ramp!r}"
            )
        self.training_threshold = self.threshold
        self.targeted = bool(targeted)
        #: Whether the budget was met at the training threshold when the
        #: last fit ended (`None` before any fit ends).
        self.met_by_sparsity = None
        self._blocks = None
        self._channel_block = None
        self._search = None
        self._reachable = True
        self._unreachable_blocks = set()

    @property
    def targeting(self):
        """Whether the penalty acts only on the channels the budget needs."""
        return self.targeted

    @property
    def kinds(self):
        """The costs the budget counts: `("macs",)`, `("params",)` or both."""
        return tuple(
            kind
            for kind in ("macs", "params")
            if getattr(self, f"target_{kind}") is not None
        )

    @property
    def kind(self):
        """`"macs"` or `"params"`: what the budget counts (the first of
        `kinds` when both are set; `binding` tells which one limits)."""
        return self.kinds[0]

    def binding(self, report):
        """Returns the target with the largest `measured / target`.

        Args:
            report: A `tfc.SparsityReport` of the steered model.

        Returns:
            `(kind, measured fraction, target fraction)`.
        """
        rows = [
            (
                kind,
                self.fraction(report, kind=kind),
                self.target_fraction(report, kind),
            )
            for kind in self.kinds
        ]
        return max(rows, key=lambda row: row[1] / row[2])

    def _setup(self):
        self.threshold = self.training_threshold
        if self.blocks is None:
            self._blocks = None
            if self.targeting:
                self._new_variable("channel_weights")
                self._retarget(self.measure())
            return
        graph = self.penalty.plan.graph
        self._blocks = blocks_lib.resolve_blocks(graph, self.blocks)
        self._channel_block = blocks_lib.channel_blocks(
            self.penalty.plan, graph, self._blocks
        )
        self._warn_unsteerable_blocks()
        scales = self._new_variable("channel_scales")
        current = keras.ops.convert_to_numpy(scales)
        outside = self._channel_block < 0
        if np.any(current[outside] != 0):
            current = np.where(outside, 0.0, current)
            scales.assign(current.astype("float32"))
        if self.targeting:
            self._search = targeting.BlockSearch(
                self.penalty.plan, self._channel_block, self._blocks, self.kind
            )
            self._unreachable_blocks = set()
            self._new_variable("channel_weights")
            self._retarget(self.measure())

    def steered_blocks(self):
        """Returns the names of the blocks that have prunable channels."""
        if self._blocks is None:
            return []
        return [
            name
            for i, name in enumerate(self._blocks)
            if np.any(self._channel_block == i)
        ]

    def _warn_unsteerable_blocks(self):
        steered = set(self.steered_blocks())
        empty = [name for name in self._blocks if name not in steered]
        if empty:
            warnings.warn(
                f"BudgetController: block(s) {empty} have no prunable "
                "channel (no channel group is produced by their layers), so "
                "their budget cannot be steered; they are left out of the "
                "budget. Their cost still shrinks with the channels of the "
                "blocks feeding them.",
                stacklevel=2,
            )

    def _report_blocks(self):
        return self._blocks

    def fraction(self, report, block=None, kind=None):
        """Returns the cost fraction `m` the budget is compared with.

        Args:
            report: A `tfc.SparsityReport`.
            block: A block name, or `None` for the whole model.
            kind: `"macs"` or `"params"`; `None` is `self.kind`.
        """
        kind = kind or self.kind
        if block is not None:
            slim, dense = report.block_macs[block]
            if kind == "params":
                slim, dense = report.block_params[block]
            return slim / dense if dense else 1.0
        if kind == "macs":
            return report.macs_fraction
        return report.params_fraction

    def target_fraction(self, report, kind=None):
        """Returns the target `t` as a fraction of the dense cost.

        Args:
            report: A `tfc.SparsityReport` (for absolute targets).
            kind: `"macs"` or `"params"`; `None` is `self.kind`.
        """
        kind = kind or self.kind
        target = getattr(self, f"target_{kind}")
        dense = report.dense_macs if kind == "macs" else report.dense_params
        return target_fraction(target, dense)

    def targets(self, report):
        """Returns `{kind: target fraction}` for every target."""
        return {kind: self.target_fraction(report, kind) for kind in self.kinds}

    def _describe(self, report):
        return " ".join(
            f"{kind} fraction={self.fraction(report, kind=kind):.3f} "
            f"target={target:.3f}"
            for kind, target in self.targets(report).items()
        )

    def _log_factor(self, measured, target):
        """The exponent of the untargeted law (0 holds the strength)."""
        if measured > target:
            error = (measured - target) / target
        elif measured < target - self.tolerance:
            error = (measured - target + self.tolerance) / target
        else:
            return 0.0
        return self.gain * error

    def _new_variable(self, name):
        """Enables the penalty's per-channel variable `name`.

        A train step traced before the variable existed would ignore it,
        so the model's traced functions are dropped when it is created
        (fit traces them again after the callbacks are set up).
        """
        existed = getattr(self.penalty, name, None) is not None
        variable = getattr(self.penalty, f"enable_{name}")(self.target)
        if not existed:
            for attr in ("train_function", "test_function"):
                if getattr(self.model, attr, None) is not None:
                    setattr(self.model, attr, None)
        return variable

    def _retarget(self, report):
        """Writes the channels the budget requires into `channel_weights`."""
        weights = self.penalty.channel_weights
        previous = np.asarray(keras.ops.convert_to_numpy(weights)) > 0.5
        if previous.all():
            previous[:] = False
        if self._search is not None:
            chosen = self._block_targets(report, previous)
            weights.assign(chosen.astype("float32"))
            return chosen
        try:
            chosen = targeting.budget_targets(
                self.target,
                self.penalty.plan,
                report.values,
                previous,
                self.targets(report),
            )
        except ValueError as error:
            if self._reachable:
                warnings.warn(
                    f"BudgetController: {error} Penalizing every channel.",
                    stacklevel=2,
                )
            self._reachable = False
            chosen = np.ones_like(previous)
        weights.assign(chosen.astype("float32"))
        return chosen

    def _block_targets(self, report, previous):
        target = self.target_fraction(report)
        fractions = dict.fromkeys(self.steered_blocks(), target)
        chosen, unreachable = self._search.targets(
            report.values, previous, fractions
        )
        fresh = sorted(set(unreachable) - self._unreachable_blocks)
        if fresh:
            warnings.warn(
                f"BudgetController: no choice of channels brings block(s) "
                f"{fresh} to {target:.1%} of their {self.kind}; penalizing "
                "every channel of those blocks.",
                stacklevel=2,
            )
        self._unreachable_blocks.update(unreachable)
        return chosen

    def _update_targeted_blocks(self, report):
        chosen = self._retarget(report)
        target = self.target_fraction(report)
        scales = np.asarray(
            keras.ops.convert_to_numpy(self.penalty.channel_scales)
        )
        for i, name in enumerate(self._blocks):
            mask = self._channel_block == i
            if not mask.any():
                continue
            measured = self.fraction(report, name)
            log_factor = self._growth(measured, target)
            scales[mask] = self._scaled_block(scales[mask][0], log_factor)
            self._say(
                f"{name}: {self.kind} fraction={measured:.3f} "
                f"target={target:.3f} "
                f"targeted={int(chosen[mask].sum())}/{int(mask.sum())}"
            )
        self.penalty.channel_scales.assign(scales.astype("float32"))

    def _update_targeted(self, report):
        chosen = self._retarget(report)
        _, measured, target = self.binding(report)
        log_factor = self._growth(measured, target)
        self._scale_strength(self.penalty.strength, log_factor)
        self._say(
            f"{self._describe(report)} "
            f"targeted={int(chosen.sum())}/{chosen.size} "
            f"strength={self.strength_value():.3g}"
        )

    def ramp_rate(self):
        """The least log-growth of the strength per update while over budget.

        `log(max_strength / min_strength)` over `ramp` times the updates of
        the fit, so the strength can cross its whole range within `ramp` of
        the fit, whatever the number of steps per epoch.
        """
        if self.ramp is None:
            return 0.0
        span = np.log(self.max_strength / self.min_strength)
        return float(span / max(1.0, self.ramp * self.updates_per_run()))

    def _growth(self, measured, target):
        """The targeted law's exponent: `0` within budget, else the larger
        of the proportional term and `ramp_rate()`."""
        if not measured > target:
            return 0.0
        return max(self.gain * (measured - target) / target, self.ramp_rate())

    def _bounded_factor(self, log_factor):
        if self.targeting and log_factor > 0:
            limit = max(np.log(self.max_change), self.ramp_rate())
            return float(np.exp(min(log_factor, limit)))
        return super()._bounded_factor(log_factor)

    def targeted_fraction(self):
        """Fraction of the channels the penalty acts on (targeted mode)."""
        weights = getattr(self.penalty, "channel_weights", None)
        if not self.targeting or weights is None:
            return 1.0
        return float(np.mean(keras.ops.convert_to_numpy(weights) > 0.5))

    def _update(self, logs):
        report = self.measure()
        if self.targeting and self._blocks is not None:
            self._update_targeted_blocks(report)
            return
        if self.targeting:
            self._update_targeted(report)
            return
        if self._blocks is None:
            _, measured, target = self.binding(report)
            log_factor = self._log_factor(measured, target)
            self._scale_strength(self.penalty.strength, log_factor)
            self._say(
                f"{self._describe(report)} strength={self.strength_value():.3g}"
            )
            return
        target = self.target_fraction(report)
        scales = np.asarray(
            keras.ops.convert_to_numpy(self.penalty.channel_scales)
        )
        for i, name in enumerate(self._blocks):
            mask = self._channel_block == i
            if not mask.any():
                continue
            log_factor = self._log_factor(self.fraction(report, name), target)
            scales[mask] = self._scaled_block(scales[mask][0], log_factor)
        self.penalty.channel_scales.assign(scales.astype("float32"))

    def _scaled_block(self, scale, log_factor):
        strength = max(self.strength_value(), 1e-30)
        factor = self._bounded_factor(log_factor)
        value = max(scale * strength, self.min_strength) * factor
        value = float(np.clip(value, self.min_strength, self.max_strength))
        return value / strength

    def block_strengths(self):
        """Returns `{block: strength}` (empty without blocks)."""
        if self._blocks is None:
            return {}
        scales = keras.ops.convert_to_numpy(self.penalty.channel_scales)
        out = {}
        for i, name in enumerate(self._blocks):
            mask = self._channel_block == i
            if mask.any():
                out[name] = float(scales[mask][0]) * self.strength_value()
        return out

    def meets_budget(self, report):
        """Whether the slim model of `report` meets every budget (every
        steered block's, with `blocks`)."""
        targets = self.targets(report)
        blocks = self.steered_blocks() or [None]
        return all(
            self.fraction(report, name, kind) <= target + 1e-9
            for name in blocks
            for kind, target in targets.items()
        )

    def _log_values(self, report):
        values = super()._log_values(report)
        values["budget_met_by_sparsity"] = float(self.meets_budget(report))
        if self.targeting:
            values["targeted_fraction"] = self.targeted_fraction()
        for name, strength in self.block_strengths().items():
            values[f"sparsity_strength/{name}"] = strength
            values[f"slim_{self.kind}_fraction/{name}"] = self.fraction(
                report, name
            )
        return values

    def on_train_end(self, logs=None):
        self.threshold = self.fit_threshold()
        self.met_by_sparsity = self.threshold <= self.training_threshold
        if logs is not None:
            logs["budget_met_by_sparsity"] = float(self.met_by_sparsity)
        super().on_train_end(logs)

    def fit_threshold(self):
        """Returns the threshold at which the slim model meets the budget.

        The threshold used in training when it meets the budget; else the
        smallest larger one that does. A channel is pruned when its norm is
        below the threshold, so the candidates are the thresholds just
        above each channel norm; the result prunes the fewest channels
        while meeting the budget.
        """
        base = self.training_threshold
        values = np.asarray(self.penalty.channel_values(self.target))
        above = np.nextafter(values, np.inf)
        candidates = np.unique(np.concatenate([[base], above[above > base]]))
        targets = self.targets(self.measure(base, values))
        blocks = self.steered_blocks() or [None]

        def meets(threshold):
            report = self.measure(threshold, values)
            return all(
                self.fraction(report, name, kind) <= target + 1e-9
                for name in blocks
                for kind, target in targets.items()
            )

        if not meets(candidates[-1]):
            warnings.warn(
                "BudgetController: no threshold meets the budget (each "
                "group keeps one channel).",
                stacklevel=2,
            )
            return float(candidates[-1])
        lo, hi = 0, len(candidates) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if meets(candidates[mid]):
                hi = mid
            else:
                lo = mid + 1
        chosen = float(candidates[lo])
        if chosen > base:
            warnings.warn(
                f"BudgetController: the budget was not met by sparsity at "
                f"threshold {base:g}; the threshold was raised to "
                f"{chosen:g}, which prunes channels the training did not "
                "zero (train longer, or raise `max_strength`).",
                stacklevel=2,
            )
        return chosen

    def get_config(self):
        config = super().get_config()
        config.update(
            target_macs=self.target_macs,
            target_params=self.target_params,
            blocks=self.blocks,
            gain=self.gain,
            tolerance=self.tolerance,
            threshold=self.training_threshold,
            targeted=self.targeted,
            ramp=self.ramp,
        )
        return config


def _validate_targets(target_macs, target_params, blocks):
    targets = parse_targets(
        target_macs, target_params, caller="BudgetController"
    )
    if len(targets) == 2 and blocks:
        raise ValueError(
            "BudgetController takes one target with `blocks` (each block "
            "is steered to one cost). Received: "
            f"target_macs={target_macs!r}, target_params={target_params!r}, "
            f"blocks={blocks!r}"
        )
    return targets.get("macs"), targets.get("params")
