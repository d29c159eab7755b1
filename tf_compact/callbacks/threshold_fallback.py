"""The train-end fallback of `BudgetController`: meet the budget when the
training's sparsity did not, by raising the pruning threshold.

One global budget gets one raised threshold. Per-block budgets get one
threshold per block: a single threshold fitted for the block hardest to
bring down would prune every other block far under its budget.
"""

import numpy as np

from tf_compact.callbacks import silence
from tf_compact.callbacks import targeting
from tf_compact.internal.user_warning import warn


def fit_threshold(controller):
    """Returns the threshold at which the slim model meets the budget.

    The training threshold when the slim model meets the budget at it.
    Else, with per-block budgets, each block gets the smallest threshold
    that brings it under its budget (blocks in order, twice, so each sees
    the others' choices). Else (one global budget, or when the per-block
    search fails) one global threshold: the smallest larger one that meets
    it. Either way the channels under the chosen threshold(s) are zeroed
    in the trained model (every coupled weight, `silence.silence_channels`),
    so `tfc.prune(model, threshold=training threshold)` removes them, the
    trained model computes what the slim one does, and the train-end BN
    recalibration sees the slim model's activations. Both fallbacks warn
    with the cost reached against the budget.

    Args:
        controller: A `BudgetController` whose fit ended.

    Returns:
        The threshold to give `tfc.prune`: the training threshold.
    """
    base = controller.training_threshold
    values = np.asarray(controller.penalty.channel_values(controller.target))
    targets = controller.targets(controller.measure(base, values))
    blocks = controller.steered_blocks() or [None]
    rule = controller.rule

    def meets(threshold, trial=values, names=blocks):
        report = controller.measure(threshold, trial)
        return rule.meets(report, targets, names)

    if meets(base):
        return base
    if blocks != [None]:
        pruned = _block_fallback(controller, values, base, meets)
        if pruned is not None:
            return base
    chosen, met = targeting.smallest_threshold(values, base, meets)
    reached = _reached(controller, chosen, values, targets)
    drop = (values < chosen) & (values >= base)
    silence.silence_channels(controller.penalty, values < chosen)
    zeroed = (
        f"the {int(drop.sum())} channel(s) under {chosen:g} that the "
        "training did not zero were zeroed in the trained model, so "
        f"`tfc.prune(model, threshold={base:g})` removes them"
    )
    if not met:
        warn(
            "BudgetController: no threshold meets the budget (each group "
            f"keeps one channel); at the largest, {zeroed}, and the slim "
            f"model reaches {reached}.",
        )
    else:
        warn(
            "BudgetController: the budget was not met by sparsity at "
            f"threshold {base:g} (train longer, or raise `max_strength`); "
            f"{zeroed}. The slim model reaches {reached}.",
        )
    return base


def _block_fallback(controller, values, base, meets):
    """Zeroes each block's channels under its own threshold; returns the
    thresholds `{block: threshold}`, or `None` (nothing zeroed) when some
    block cannot meet its budget."""
    channel_block = controller.scope.channel_block
    names = controller.steered_blocks()
    index = {name: i for i, name in enumerate(controller.scope.blocks)}
    effective = values.copy()
    thresholds = {}
    for _ in range(2):
        for name in names:
            member = channel_block == index[name]
            effective[member] = values[member]

            def block_meets(threshold, member=member, name=name):
                trial = effective.copy()
                trial[member & (values < threshold)] = 0.0
                return meets(base, trial, [name])

            chosen, met = targeting.smallest_threshold(
                values[member], base, block_meets
            )
            if not met:
                return None
            thresholds[name] = chosen
            effective[member & (values < chosen)] = 0.0
    if not meets(base, effective):
        return None
    report = controller.measure(base, effective)
    drop = ~report.keep & (values >= base)
    silence.silence_channels(controller.penalty, drop)
    targets = controller.targets(report)
    warn(
        "BudgetController: the budget was not met by sparsity at threshold "
        f"{base:g}; each block's channels under its own threshold "
        f"({_format(thresholds)}) were zeroed in the trained model "
        f"({int(drop.sum())} channels the training did not zero; train "
        "longer, or raise `max_strength`), so `tfc.prune(model, "
        f"threshold={base:g})` meets every block's budget. The slim model "
        f"reaches {_reached(controller, base, effective, targets)}.",
    )
    return thresholds


def _format(thresholds):
    return ", ".join(f"{name}: {t:.3g}" for name, t in thresholds.items())


def _reached(controller, threshold, values, targets):
    """Says the cost reached against the budget, per steered block too."""
    report = controller.measure(threshold, values)
    rule = controller.rule
    parts = [
        f"{rule.fraction(report, kind=kind):.1%} of the model's {kind}"
        for kind in targets
    ]
    for name in controller.steered_blocks():
        parts += [
            f"{name} {rule.fraction(report, name, kind):.1%}"
            for kind in targets
        ]
    budget = ", ".join(f"{kind} {t:.1%}" for kind, t in targets.items())
    return f"{', '.join(parts)} (budget: {budget} each)"
