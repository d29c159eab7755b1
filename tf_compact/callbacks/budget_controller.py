"""`BudgetController`: steer the sparsity strength to a MACs/params budget."""

import math
import warnings

import keras
import numpy as np

from tf_compact.callbacks import blocks as blocks_lib
from tf_compact.callbacks.penalty_controller import PenaltyController
from tf_compact.sparsity import validation


@keras.saving.register_keras_serializable(package="tf_compact")
class BudgetController(PenaltyController):
    """Raises the sparsity strength until the slim model fits a budget.

    At each update the controller measures the cost `m` of the model that a
    prune at `threshold` would give (MACs or parameters, as a fraction of
    the dense model's) and compares it with the target `t`:

    ```
    m > t:                   e = (m - t) / t
    t - tolerance <= m <= t: e = 0 (lambda held)
    m < t - tolerance:       e = (m - t + tolerance) / t
    lambda <- lambda * clip(exp(gain * e), 1 / max_change, max_change)
    ```

    (each factor limited to `[1 / max_change, max_change]`, `lambda` to
    `[min_strength, max_strength]`). So the strength rises until the budget
    is met, then holds, and eases off if the model overshoots the budget
    by more than `tolerance`.

    With `blocks`, the budget applies to each block separately: each block
    has its own strength (kept in the penalty's `channel_scales`, so it is
    saved and restored), a channel belongs to the block of the layer that
    produces it, and a block's cost counts the MACs of its own layers.
    Channels of groups outside every block are not penalized.

    When training ends, `threshold` is set to the smallest channel norm
    threshold at which the slim model meets the global budget (a warning
    tells when this had to prune channels whose norm is above the
    threshold used during training), so `tfc.prune(model,
    threshold=controller.threshold)` meets it. Logs the per-block
    strengths as `sparsity_strength/<block>` and costs as
    `slim_macs_fraction/<block>`.

    Args:
        target_macs: MACs budget: a fraction in (0, 1] of the dense
            model's, or an absolute count (> 1). Defaults to `None`.
        target_params: Parameter budget, like `target_macs`. Exactly one of
            the two must be given. Defaults to `None`.
        blocks: `None` (one global budget), `"auto"` (stages of equal
            resolution plus the head) or `{block name: [layer names] or a
            name prefix}`. Block budgets are fractions of each block's
            dense cost. Defaults to `None`.
        gain: Proportional gain on the relative error. Defaults to `2.0`.
        tolerance: Width of the hold band below the target, as a fraction
            of the dense cost. Defaults to `0.02`.
        threshold, update_every, min_strength, max_strength, max_change,
        verbose: As in `PenaltyController`.

    Raises:
        ValueError: If the targets are missing, both given or out of range,
            if `blocks` is invalid, or (when fit starts) if the model has no
            penalty to steer.

    Example:

    ```python
    trainer = tfc.Sparsifier(model, sparsity=tfc.GroupLasso(1e-5))
    trainer.compile("adam", "sparse_categorical_crossentropy")
    budget = tfc.callbacks.BudgetController(target_macs=0.5)
    trainer.fit(x, y, epochs=10, callbacks=[budget])
    slim = tfc.prune(model, threshold=budget.threshold)
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
        update_every="epoch",
        min_strength=1e-6,
        max_strength=1.0,
        max_change=2.0,
        verbose=0,
    ):
        super().__init__(
            threshold=threshold,
            update_every=update_every,
            min_strength=min_strength,
            max_strength=max_strength,
            max_change=max_change,
            verbose=verbose,
        )
        self.target_macs, self.target_params = _validate_targets(
            target_macs, target_params
        )
        self.blocks = blocks
        self.gain = validation.validate_positive("gain", gain)
        self.tolerance = validation.validate_non_negative(
            "tolerance", tolerance
        )
        self.training_threshold = self.threshold
        self._blocks = None
        self._channel_block = None

    @property
    def kind(self):
        """`"macs"` or `"params"`: what the budget counts."""
        return "macs" if self.target_macs is not None else "params"

    def _setup(self):
        self.threshold = self.training_threshold
        if self.blocks is None:
            self._blocks = None
            return
        graph = self.penalty.plan.graph
        self._blocks = blocks_lib.resolve_blocks(graph, self.blocks)
        self._channel_block = blocks_lib.channel_blocks(
            self.penalty.plan, graph, self._blocks
        )
        scales = self.penalty.enable_channel_scales(self.target)
        current = keras.ops.convert_to_numpy(scales)
        outside = self._channel_block < 0
        if np.any(current[outside] != 0):
            current = np.where(outside, 0.0, current)
            scales.assign(current.astype("float32"))

    def _report_blocks(self):
        return self._blocks

    def fraction(self, report, block=None):
        """Returns the cost fraction `m` the budget is compared with."""
        if block is not None:
            slim, dense = report.block_macs[block]
            if self.kind == "params":
                slim, dense = report.block_params[block]
            return slim / dense if dense else 1.0
        if self.kind == "macs":
            return report.macs_fraction
        return report.params_fraction

    def target_fraction(self, report):
        """Returns the target `t` as a fraction of the dense cost."""
        target = self.target_macs or self.target_params
        if target <= 1:
            return float(target)
        dense = (
            report.dense_macs if self.kind == "macs" else report.dense_params
        )
        return float(target) / dense

    def _factor(self, measured, target):
        if measured > target:
            error = (measured - target) / target
        elif measured < target - self.tolerance:
            error = (measured - target + self.tolerance) / target
        else:
            return 1.0
        return math.exp(self.gain * error)

    def _update(self, logs):
        report = self.measure()
        target = self.target_fraction(report)
        if self._blocks is None:
            factor = self._factor(self.fraction(report), target)
            self._scale_strength(self.penalty.strength, factor)
            self._say(
                f"{self.kind} fraction={self.fraction(report):.3f} "
                f"target={target:.3f} strength={self.strength_value():.3g}"
            )
            return
        scales = np.asarray(
            keras.ops.convert_to_numpy(self.penalty.channel_scales)
        )
        for i, name in enumerate(self._blocks):
            mask = self._channel_block == i
            if not mask.any():
                continue
            factor = self._factor(self.fraction(report, name), target)
            scales[mask] = self._scaled_block(scales[mask][0], factor)
        self.penalty.channel_scales.assign(scales.astype("float32"))

    def _scaled_block(self, scale, factor):
        strength = max(self.strength_value(), 1e-30)
        factor = float(np.clip(factor, 1 / self.max_change, self.max_change))
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

    def _log_values(self, report):
        values = super()._log_values(report)
        for name, strength in self.block_strengths().items():
            values[f"sparsity_strength/{name}"] = strength
            values[f"slim_{self.kind}_fraction/{name}"] = self.fraction(
                report, name
            )
        return values

    def on_train_end(self, logs=None):
        self.threshold = self.fit_threshold()

    def fit_threshold(self):
        """Returns the smallest threshold at which the budget is met.

        A channel is pruned when its norm is below the threshold, so the
        candidates are the thresholds just above each channel norm (and
        the one used in training); the result is the one that prunes the
        fewest channels while meeting the budget.
        """
        base = self.training_threshold
        values = np.asarray(self.penalty.channel_values(self.target))
        above = np.nextafter(values, np.inf)
        candidates = np.unique(np.concatenate([[0.0, base], above]))
        target = self.target_fraction(self.measure(base, values))

        def meets(threshold):
            report = self.measure(threshold, values)
            return self.fraction(report) <= target + 1e-9

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
                f"BudgetController: the budget was not met at threshold "
                f"{base:g}; the threshold was raised to {chosen:g}.",
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
        )
        return config


def _validate_targets(target_macs, target_params):
    if (target_macs is None) == (target_params is None):
        raise ValueError(
            "BudgetController needs exactly one of `target_macs` and "
            f"`target_params`. Received: target_macs={target_macs!r}, "
            f"target_params={target_params!r}"
        )
    name = "target_macs" if target_macs is not None else "target_params"
    value = target_macs if target_macs is not None else target_params
    value = validation.validate_positive(name, value)
    if value > 1 and value != int(value):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a fraction in "
            f"(0, 1] or an absolute count. Received: {name}={value!r}"
        )
    if name == "target_macs":
        return value, None
    return None, value
