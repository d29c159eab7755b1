"""`BudgetController`: steer the sparsity strength to a MACs/params budget."""

import keras

from tf_compact.callbacks import control_laws
from tf_compact.callbacks import threshold_fallback
from tf_compact.callbacks.blocks import validate_blocks
from tf_compact.callbacks.budget_scopes import BlockBudgets
from tf_compact.callbacks.budget_scopes import GlobalBudget
from tf_compact.callbacks.control_laws import MultiplicativeLaw
from tf_compact.callbacks.control_laws import RampLaw
from tf_compact.callbacks.penalty_controller import PenaltyController
from tf_compact.callbacks.penalty_controller import controller_arguments
from tf_compact.callbacks.targeting_rules import EveryChannel
from tf_compact.callbacks.targeting_rules import RequiredChannels
from tf_compact.pruning.validation import validate_known_macs
from tf_compact.surgery.cost import cost_from_keep

#: Default upper bound of the strength in targeted mode.
TARGETED_MAX_STRENGTH = 10.0


@keras.saving.register_keras_serializable(package="tf_compact")
class BudgetController(PenaltyController):
    """Steers the sparsity strength until the slim model fits a budget.

    At each update the controller measures the cost `m` of the model that a
    prune at `threshold` would give (MACs or parameters, as a fraction of
    the dense model's) and compares it with the target `t`.

    The controller is three small parts composed:

    - a targeting rule (`targeting_rules`): `targeted=True` (the default,
      `RequiredChannels`) first chooses the channels that must go, with
      the global ranking of `tfc.prune(model, target_macs=t)` (norm over
      the mean norm of the group's untargeted channels, so the choice
      stays stable while the chosen channels shrink), and writes them into
      the penalty's `channel_weights` (1 penalize, 0 spare): only those
      channels are pushed to zero, the rest of the network trains freely.
      `targeted=False` (`EveryChannel`) penalizes every channel.
    - a control law (`control_laws`): targeted, `RampLaw` raises the
      strength while `m > t`, at least at the ramp rate that crosses
      `[min_strength, max_strength]` within the first `ramp` of the fit,
      and never lowers it (with `update_every="auto"` the trajectory per
      fraction of the fit does not depend on the dataset's size; `ramp=None`
      keeps the proportional term alone). Untargeted,
      `MultiplicativeLaw` raises it over the target, holds it within
      `tolerance` under it and eases it off below. Both clip the exponent
      before `exp`, so they stay finite for any gain and target, and keep
      `lambda` within `[min_strength, max_strength]`. Since untargeted
      channels carry no penalty, a strength past the critical value
      cannot kill the whole network at once (what an untargeted penalty
      does under Adam, where every channel shrinks at about the same
      rate).
    - a budget scope (`budget_scopes`): `GlobalBudget` steers the global
      strength; with `blocks`, `BlockBudgets` gives each block its own
      budget and its own strength (kept in the penalty's
      `channel_scales`, so it is saved and restored), steered by the law
      from the block's own cost `m_b`. A channel belongs to the block of
      the layer that produces it, and a block's cost counts the MACs (or
      parameters) of its own layers. Targeted, the channels each block
      must lose are chosen block by block (`targeting.BlockSearch`: the
      block's lowest-ranked channels, as few as bring the block's cost,
      with the other blocks' choices applied, under its budget). Channels
      of groups outside every block are not penalized. A block with no
      prunable channel (typically the `head` of `blocks="auto"`: pooling
      and the classifier, whose output width is fixed) cannot be steered:
      the controller warns and leaves it out of the budget (its cost still
      shrinks with the channels of the block before it).

    With both `target_macs` and `target_params` (global budget only), the
    slim model must meet both: the targeted channels are those of
    `tfc.prune(model, target_macs=..., target_params=...)`, and the law
    above is driven by the *binding* target, the one with the largest
    `m / t` at each update.

    When training ends, `threshold` is kept if the slim model meets the
    budget at it (every steered block's budget, with `blocks`): the budget
    was met by sparsity (`met_by_sparsity` is `True`). Else, as a last
    resort (with a warning that gives the cost reached against the
    budget, since this prunes channels whose norm is above the threshold
    used during training), the channels under the smallest threshold at
    which the budget is met are zeroed in the trained model (every weight
    coupled to them); with `blocks`, each block gets its own threshold, so
    no block is pruned past its budget. `threshold` stays the training
    one. Channels counted as removed are zeroed in full in any case (a
    `tfc.BNGammaL1` channel with a zero BN scale still adds its BN shift;
    a warning says so), so the trained model computes what the slim model
    does and the train-end BN recalibration sees the slim activations.
    Either way `tfc.prune(model, threshold=controller.threshold)` meets
    it, also when
    a callback after this one (`keras.callbacks.EarlyStopping(
    restore_best_weights=True)`) restores earlier weights: the first read
    of `threshold` then redoes this work, with a warning (`train_end`).
    Each epoch logs `budget_met_by_sparsity` (1.0 when the budget is met
    at the training threshold), and so do the train-end `logs`.

    BN statistics: the penalty shrinks kernels that BN makes
    scale-invariant, so the moving statistics lag and the trained model
    (and the slim one) would do worse in inference mode than in training.
    At train end the controller recomputes the trained model's BN
    statistics (`tfc.sparsity.recalibrate_batch_norm`) on 100 batches of
    the data `tfc.Sparsifier`/`tfc.Distiller` was fit on
    (`recalibrate_data="auto"`, or data of your own), and `tfc.prune`
    carries them into the slim model. With another trainer it warns;
    then call `tfc.sparsity.recalibrate_batch_norm(slim, x_train)` on the
    slim model after `tfc.prune(model, threshold=controller.threshold)`.

    Logs the per-block strengths as `sparsity_strength/<block>` and costs as
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
            `TARGETED_MAX_STRENGTH` (10) when targeted, else `1.0`.
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
        ValueError: For targets missing, out of range or both given with
            `blocks`, or `blocks` of the wrong shape; when fit starts, for
            block layers the model lacks, no penalty to steer, or
            `target_macs` with an input of any size.

    Example:

    ```python
    penalty = tfc.GroupLasso(1e-4, proximal=True)
    trainer = tfc.Sparsifier(model, sparsity=penalty)
    trainer.compile("adam", "sparse_categorical_crossentropy")
    budget = tfc.callbacks.BudgetController(target_macs=0.5)
    trainer.fit(x, y, epochs=10, callbacks=[budget])
    budget.met_by_sparsity  # True: no threshold raise was needed
    slim = tfc.prune(model, threshold=budget.threshold)  # BN stats fresh
    # Both budgets at once: the slim model meets 25% MACs and 10% params.
    both = tfc.callbacks.BudgetController(target_macs=0.25, target_params=0.1)
    ```
    """

    wants_exact_zeros = True

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
        recalibrate_data="auto",
        recalibrate_batches=None,
    ):
        if max_strength is None:
            max_strength = TARGETED_MAX_STRENGTH if targeted else 1.0
        super().__init__(**controller_arguments(locals()))
        self.targeted = bool(targeted)
        rule_class = RequiredChannels if self.targeted else EveryChannel
        #: The targeting rule (`EveryChannel` or `RequiredChannels`).
        self.rule = rule_class(target_macs, target_params)
        self.target_macs = self.rule.target_macs
        self.target_params = self.rule.target_params
        _validate_blocks(self.rule, blocks)
        self.blocks = blocks
        #: The budget scope: one global budget or one per block.
        self.scope = GlobalBudget() if blocks is None else BlockBudgets(blocks)
        untargeted = MultiplicativeLaw(gain, tolerance)
        self.gain, self.tolerance = untargeted.gain, untargeted.tolerance
        self.ramp = control_laws.validate_ramp(ramp)
        #: The control law (`RampLaw` targeted, else `MultiplicativeLaw`).
        self.law = RampLaw(gain, ramp) if self.targeted else untargeted
        self.training_threshold = self.threshold
        self._met = None

    @property
    def targeting(self):
        """Whether the penalty acts only on the channels the budget needs."""
        return self.rule.targeted

    @property
    def kinds(self):
        """The costs the budget counts: `("macs",)`, `("params",)` or both."""
        return self.rule.kinds

    @property
    def kind(self):
        """The first of `kinds` (`binding` tells which one limits)."""
        return self.rule.kind

    @property
    def _blocks(self):
        return self.scope.blocks

    @property
    def _channel_block(self):
        return self.scope.channel_block

    def binding(self, report):
        """Returns `(kind, measured fraction, target fraction)` of the
        target with the largest `measured / target` in `report`."""
        return self.rule.binding(report)

    def _setup(self):
        graph = self.penalty.plan.graph
        validate_known_macs(graph.model, self.rule.target_macs)
        self.rule.warn_empty(*cost_from_keep(graph, graph.keep_elements({})))
        self.threshold = self.training_threshold
        self.scope.setup(self)
        self.rule.setup(self)

    def steered_blocks(self):
        """Returns the names of the blocks that have prunable channels."""
        return self.scope.steered_blocks()

    def _report_blocks(self):
        return self.scope.blocks

    def fraction(self, report, block=None, kind=None):
        """Returns the measured cost fraction `m` of the model (`block=None`)
        or of a block, for `kind` (`None`: `self.kind`)."""
        return self.rule.fraction(report, block, kind)

    def target_fraction(self, report, kind=None):
        """Returns the target `t` of `kind` (`None`: `self.kind`) as a
        fraction of the dense cost in `report`."""
        return self.rule.target_fraction(report, kind)

    def targets(self, report):
        """Returns `{kind: target fraction}` for every target."""
        return self.rule.targets(report)

    def ramp_rate(self):
        """The least log-growth of the strength per update while over budget.

        `log(max_strength / min_strength)` over `ramp` times the updates of
        the fit, so the strength can cross its whole range within `ramp` of
        the fit, whatever the number of steps per epoch.
        """
        return control_laws.ramp_rate(self.ramp, self.law_context())

    def targeted_fraction(self):
        """Fraction of the channels the penalty acts on (targeted mode)."""
        return self.rule.targeted_fraction(self.penalty)

    def _update(self, logs):
        report = self.measure()
        chosen = self.rule.retarget(self, report)
        self.scope.steer(self, self.law, report, chosen)

    def block_strengths(self):
        """Returns `{block: strength}` (empty without blocks)."""
        return self.scope.strengths(self)

    def meets_budget(self, report):
        """Whether `report` meets every budget (each steered block's)."""
        blocks = self.steered_blocks() or [None]
        return self.rule.meets(report, self.targets(report), blocks)

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
        if (self.params or {}).get("epochs") == 0:  # no `_finish_training`
            base = self.training_threshold
            self._met = bool(self.meets_budget(self.measure(base)))
        super().on_train_end(logs)
        if logs is not None:
            logs["budget_met_by_sparsity"] = float(self._met)

    def _finish_training(self, data):
        base = self.training_threshold
        self._met = bool(self.meets_budget(self.measure(base)))
        self.threshold = self.fit_threshold()
        super()._finish_training(data)

    @property
    def met_by_sparsity(self):
        """Whether the budget was met at the training threshold when the
        last fit ended (`None` before any fit ends); read after training,
        like `threshold`, it first redoes the train-end work if a later
        callback set the weights."""
        self.redo_if_restored()
        return self._met

    def fit_threshold(self):
        """Returns the threshold at which the slim model meets the budget
        (see `threshold_fallback.fit_threshold`, which this calls)."""
        return threshold_fallback.fit_threshold(self)

    def get_config(self):
        return {
            **super().get_config(),
            **self.rule.get_config(),
            "blocks": self.blocks,
            "gain": self.gain,
            "tolerance": self.tolerance,
            "threshold": self.training_threshold,
            "targeted": self.targeted,
            "ramp": self.ramp,
        }


def _validate_blocks(rule, blocks):
    validate_blocks(blocks)
    if len(rule.kinds) == 2 and blocks:
        raise ValueError(
            "BudgetController takes one target with `blocks` (each block "
            "is steered to one cost). Received: "
            f"target_macs={rule.target_macs!r}, "
            f"target_params={rule.target_params!r}, blocks={blocks!r}"
        )
