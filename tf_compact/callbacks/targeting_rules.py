"""Targeting rules: what a budget measures, what it aims at, which channels
the penalty acts on.

A rule holds the budget's targets (MACs and/or parameters, as fractions of
the dense cost or absolute counts) and reads the measured fraction and the
target off a `tfc.SparsityReport`. `EveryChannel` leaves the penalty on
every channel; `RequiredChannels` writes into the penalty's
`channel_weights` the channels the budget requires (chosen by the budget
scope: globally with `targeting.budget_targets`, per block with
`targeting.BlockSearch`), so only those are pushed to zero.
"""

import keras
import numpy as np

from tf_compact.internal.targets import parse_targets
from tf_compact.internal.targets import target_fraction


class EveryChannel:
    """The budget's targets and measurements; the penalty acts everywhere.

    Args:
        target_macs: MACs budget (fraction or absolute count), or `None`.
        target_params: Parameter budget, like `target_macs`. At least one
            of the two must be given.

    Raises:
        ValueError: If both targets are missing or one is out of range.

    Example:

    ```python
    rule = EveryChannel(target_macs=0.5)
    rule.kinds                      # ("macs",)
    rule.fraction(report)           # report.macs_fraction
    ```
    """

    #: Whether the rule restricts the penalty to chosen channels.
    targeted = False

    def __init__(self, target_macs=None, target_params=None):
        targets = parse_targets(
            target_macs, target_params, caller="BudgetController"
        )
        self.target_macs = targets.get("macs")
        self.target_params = targets.get("params")

    @property
    def kinds(self):
        """The costs the budget counts: `("macs",)`, `("params",)` or both."""
        return tuple(
            kind
            for kind, target in (
                ("macs", self.target_macs),
                ("params", self.target_params),
            )
            if target is not None
        )

    @property
    def kind(self):
        """The first of `kinds`."""
        return self.kinds[0]

    def fraction(self, report, block=None, kind=None):
        """Returns the measured cost fraction of the model or of `block`."""
        kind = kind or self.kind
        if block is not None:
            costs = (
                report.block_params if kind == "params" else report.block_macs
            )
            slim, dense = costs[block]
            return slim / dense if dense else 1.0
        if kind == "macs":
            return report.macs_fraction
        return report.params_fraction

    def target_fraction(self, report, kind=None):
        """Returns the target of `kind` as a fraction of the dense cost."""
        kind = kind or self.kind
        if kind == "macs":
            return target_fraction(self.target_macs, report.dense_macs)
        return target_fraction(self.target_params, report.dense_params)

    def warn_empty(self, dense_macs, dense_params):
        """Warns for a count at or above the model's own cost (a budget
        that removes nothing)."""
        for name, value, cost in (
            ("target_macs", self.target_macs, dense_macs),
            ("target_params", self.target_params, dense_params),
        ):
            if value is not None:
                target_fraction(value, int(cost), name)

    def targets(self, report):
        """Returns `{kind: target fraction}` for every target."""
        return {kind: self.target_fraction(report, kind) for kind in self.kinds}

    def binding(self, report):
        """Returns `(kind, measured, target)` with the largest `m / t`."""
        rows = [
            (kind, self.fraction(report, kind=kind), target)
            for kind, target in self.targets(report).items()
        ]
        return max(rows, key=lambda row: row[1] / row[2])

    def meets(self, report, targets, blocks):
        """Whether every block of `blocks` (`None`: the model) meets
        every target of `targets` (`{kind: fraction}`) in `report`."""
        return all(
            self.fraction(report, name, kind) <= target + 1e-9
            for name in blocks
            for kind, target in targets.items()
        )

    def describe(self, report):
        """One line: the measured fraction and the target of each kind."""
        return " ".join(
            f"{kind} fraction={self.fraction(report, kind=kind):.3f} "
            f"target={target:.3f}"
            for kind, target in self.targets(report).items()
        )

    def setup(self, controller):
        """Prepares the penalty when fit starts (after the scope's setup)."""

    def retarget(self, controller, report):
        """Returns the channels the penalty must act on, or `None` (all)."""
        return None

    def targeted_fraction(self, penalty):
        """Fraction of the channels the penalty acts on."""
        return 1.0

    def get_config(self):
        return {
            "target_macs": self.target_macs,
            "target_params": self.target_params,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class RequiredChannels(EveryChannel):
    """Penalizes only the channels the budget requires.

    At setup and at each update, the previous choice is read from the
    penalty's `channel_weights` (1 penalize, 0 spare), the controller's
    scope chooses anew (previous choice first) and the choice is written
    back. Arguments as in `EveryChannel`.

    Example:

    ```python
    rule = RequiredChannels(target_macs=0.5)
    chosen = rule.retarget(controller, controller.measure())  # bools
    ```
    """

    targeted = True

    def setup(self, controller):
        penalty = controller.penalty
        controller.penalty_variable(
            "channel_weights", penalty.enable_channel_weights
        )
        self.retarget(controller, controller.measure())

    def retarget(self, controller, report):
        weights = controller.penalty.channel_weights
        previous = np.asarray(keras.ops.convert_to_numpy(weights)) > 0.5
        if previous.all():
            previous[:] = False
        chosen = controller.scope.choose(controller, report, previous)
        weights.assign(chosen.astype("float32"))
        return chosen

    def targeted_fraction(self, penalty):
        weights = getattr(penalty, "channel_weights", None)
        if weights is None:
            return 1.0
        return float(np.mean(keras.ops.convert_to_numpy(weights) > 0.5))
