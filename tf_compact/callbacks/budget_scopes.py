"""Budget scopes: where a budget applies and where its strength is kept.

- `GlobalBudget`: one budget for the whole model, steering the penalty's
  global strength.
- `BlockBudgets`: one budget per block of layers, each steering the
  strength of its block's channels (kept in the penalty's
  `channel_scales`, so it is saved and restored).

A scope lists its units (the model, or each steerable block) with what
was measured and the target, and `BudgetScope.steer` applies a control law
to each of them in one loop. It also chooses, for a targeted rule, the
channels its budget(s) require.
"""

import collections

import keras
import numpy as np

from tf_compact.callbacks import blocks as blocks_lib
from tf_compact.callbacks import targeting
from tf_compact.internal.targets import is_count
from tf_compact.internal.user_warning import warn
from tf_compact.pruning.validation import UnreachableTarget

#: One steered unit: its name (`None`: the model), its channels (`None`:
#: all), the measured fraction and the target.
Unit = collections.namedtuple("Unit", ["name", "mask", "measured", "target"])


class BudgetScope:
    """Base class of the scopes.

    Contract: `setup(controller)` when fit starts (before any
    measurement), then at each update `choose` (targeted rules only) and
    `steer`, which moves the strength of every unit of `units` once with
    `law.next_strength`. Subclasses define `units`, `_load`, `_read`,
    `_write` and `_store` (where the strengths live) and `choose`.
    """

    #: `{block name: [layer names]}`, or `None` for a global budget.
    blocks = None
    #: Block index of every channel (-1: none), or `None`.
    channel_block = None

    def setup(self, controller):
        """Resolves the scope on the controller's model (when fit starts)."""

    def steered_blocks(self):
        """Returns the names of the blocks that have prunable channels."""
        return []

    def units(self, rule, report):
        """Returns the `Unit`s to steer, measured on `report` by `rule`."""
        raise NotImplementedError

    def steer(self, controller, law, report, chosen=None):
        """Applies `law` to every unit: the one update loop.

        Args:
            controller: The `BudgetController`.
            law: A `ControlLaw`.
            report: The `tfc.SparsityReport` measured for this update.
            chosen: The targeted channels (bools), or `None`.
        """
        context = controller.law_context()
        self._load(controller)
        for unit in self.units(controller.rule, report):
            strength = law.next_strength(
                self._read(unit), unit.measured, unit.target, context
            )
            self._write(unit, strength)
            controller.say(self._describe(controller, unit, report, chosen))
        self._store(controller)

    def strengths(self, controller):
        """Returns `{block: strength}` (empty for a global budget)."""
        return {}

    def choose(self, controller, report, previous):
        """Returns a bool per channel: the channels the budget requires."""
        raise NotImplementedError

    def _load(self, controller):
        raise NotImplementedError

    def _read(self, unit):
        raise NotImplementedError

    def _write(self, unit, strength):
        raise NotImplementedError

    def _store(self, controller):
        pass

    def _describe(self, controller, unit, report, chosen):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class GlobalBudget(BudgetScope):
    """One budget for the whole model, on the penalty's global strength.

    The unit's measurement is the *binding* target's (the largest
    `measured / target` of the rule's targets). Targeted, the channels are
    those of `tfc.prune(model, target_macs=..., target_params=...)`
    (`targeting.budget_targets`); when no choice meets the budget, every
    channel is penalized (with one warning).

    Example:

    ```python
    scope = GlobalBudget()
    scope.steer(controller, RampLaw(), controller.measure())
    ```
    """

    def __init__(self):
        self._reachable = True
        self._variable = None

    def units(self, rule, report):
        _, measured, target = rule.binding(report)
        return [Unit(None, None, measured, target)]

    def choose(self, controller, report, previous):
        try:
            return targeting.budget_targets(
                controller.target,
                controller.penalty.plan,
                report.values,
                previous,
                controller.rule.targets(report),
            )
        except ValueError as error:
            if self._reachable:
                warn(
                    f"BudgetController: {_unreachable(controller, error)} "
                    "Penalizing every channel.",
                )
            self._reachable = False
            return np.ones_like(previous)

    def _load(self, controller):
        self._variable = controller.penalty.strength

    def _read(self, unit):
        # The variable's float32 value: the update keeps its precision.
        return np.asarray(keras.ops.convert_to_numpy(self._variable))

    def _write(self, unit, strength):
        self._variable.assign(np.asarray(strength).astype("float32"))

    def _describe(self, controller, unit, report, chosen):
        targeted = ""
        if chosen is not None:
            targeted = f" targeted={int(chosen.sum())}/{chosen.size}"
        return (
            f"{controller.rule.describe(report)}{targeted} "
            f"strength={controller.strength_value():.3g}"
        )


class BlockBudgets(BudgetScope):
    """One budget per block, each block with its own strength.

    A channel belongs to the block of the layer that produces it, a
    block's cost counts its own layers, and a block's strength is
    `strength * channel_scales[c]` for its channels `c` (channels outside
    every block get scale 0: not penalized). A block with no prunable
    channel cannot be steered: it is reported once and left out.
    Targeted, each block's channels are chosen by `targeting.BlockSearch`.

    Args:
        blocks: `"auto"` or `{block name: [layer names] or a name
            prefix}` (see `blocks.resolve_blocks`).

    Example:

    ```python
    scope = BlockBudgets("auto")
    scope.setup(controller)
    scope.steered_blocks()       # ["stage1", "stage2"]
    ```
    """

    def __init__(self, blocks):
        self.spec = blocks
        self.blocks = None
        self.channel_block = None
        self._search = None
        self._unreachable = set()
        self._scales = None
        self._strength = None

    def setup(self, controller):
        penalty = controller.penalty
        graph = penalty.plan.graph
        self.blocks = blocks_lib.resolve_blocks(graph, self.spec)
        self.channel_block = blocks_lib.channel_blocks(
            penalty.plan, graph, self.blocks
        )
        self._warn_unsteerable()
        scales = controller.penalty_variable(
            "channel_scales", penalty.enable_channel_scales
        )
        current = keras.ops.convert_to_numpy(scales)
        outside = self.channel_block < 0
        if np.any(current[outside] != 0):
            current = np.where(outside, 0.0, current)
            scales.assign(current.astype("float32"))
        self._search = targeting.BlockSearch(
            penalty.plan, self.channel_block, self.blocks, controller.rule.kind
        )
        self._unreachable = set()

    def steered_blocks(self):
        if self.blocks is None:
            return []
        return [
            name
            for i, name in enumerate(self.blocks)
            if np.any(self.channel_block == i)
        ]

    def _warn_unsteerable(self):
        steered = set(self.steered_blocks())
        empty = [name for name in self.blocks if name not in steered]
        if empty:
            warn(
                f"BudgetController: block(s) {empty} have no prunable "
                "channel (no channel group is produced by their layers), so "
                "their budget cannot be steered; they are left out of the "
                "budget. Their cost still shrinks with the channels of the "
                "blocks feeding them.",
            )

    def _masks(self):
        for i, name in enumerate(self.blocks):
            mask = self.channel_block == i
            if mask.any():
                yield name, mask

    def units(self, rule, report):
        target = rule.target_fraction(report)
        return [
            Unit(name, mask, rule.fraction(report, name), target)
            for name, mask in self._masks()
        ]

    def strengths(self, controller):
        if self.blocks is None:
            return {}
        scales = keras.ops.convert_to_numpy(controller.penalty.channel_scales)
        strength = controller.strength_value()
        return {
            name: float(scales[mask][0]) * strength
            for name, mask in self._masks()
        }

    def choose(self, controller, report, previous):
        rule = controller.rule
        target = rule.target_fraction(report)
        fractions = dict.fromkeys(self.steered_blocks(), target)
        chosen, unreachable = self._search.targets(
            report.values, previous, fractions
        )
        fresh = sorted(set(unreachable) - self._unreachable)
        if fresh:
            warn(
                f"BudgetController: no choice of channels brings block(s) "
                f"{fresh} to {target:.1%} of their {rule.kind}; penalizing "
                "every channel of those blocks.",
            )
        self._unreachable.update(unreachable)
        return chosen

    def _load(self, controller):
        scales = controller.penalty.channel_scales
        self._scales = np.asarray(keras.ops.convert_to_numpy(scales))
        self._strength = max(controller.strength_value(), 1e-30)

    def _read(self, unit):
        return self._scales[unit.mask][0] * self._strength

    def _write(self, unit, strength):
        self._scales[unit.mask] = float(strength) / self._strength

    def _store(self, controller):
        scales = self._scales.astype("float32")
        controller.penalty.channel_scales.assign(scales)

    def _describe(self, controller, unit, report, chosen):
        targeted = ""
        if chosen is not None:
            count = f"{int(chosen[unit.mask].sum())}/{int(unit.mask.sum())}"
            targeted = f" targeted={count}"
        return (
            f"{unit.name}: {controller.rule.kind} "
            f"fraction={unit.measured:.3f} target={unit.target:.3f}{targeted}"
        )

    def get_config(self):
        return {"blocks": self.spec}


def _unreachable(controller, error):
    """Why no choice of channels meets the budget, in the controller's
    terms (the targets as the user gave them)."""
    if not isinstance(error, UnreachableTarget):
        return str(error)
    given = getattr(controller.rule, error.name)
    goal = f"{given * 100:.3g}% of the model's {error.what}"
    if is_count(given):
        goal = f"{given:,} of the model's {error.total:,} {error.what}"
    why = ""
    if error.kept_whole_by:
        why = (
            f" Layers that keep their channels whole: "
            f"{', '.join(error.kept_whole_by)}."
        )
    return (
        f"the budget `{error.name}={given!r}` ({goal}) cannot be met by "
        f"removing channels: the smallest reachable is {error.reached:.1%} "
        f"({round(error.reached * error.total):,}).{why}"
    )
