"""Choosing the channels a budget requires, for a targeted penalty.

`BudgetController(targeted=True)` penalizes only the channels that must go
for the slim model to meet the budget. They are chosen with the global
ranking of `tfc.prune` (`tf_compact.pruning.prune_masks` with a cost
target): every channel is scored by its norm over the mean norm of its
group, and the lowest-scoring channels are removed until the slim model
fits.

Two changes keep the choice stable while the targeted channels shrink:

- A group's mean is taken over its channels that are *not* targeted (its
  survivors). With the plain group mean, the shrinking channels would
  lower their group's mean and lift the scores of the group's survivors.
- Channels targeted before rank ahead of every other channel (sticky
  targets): the choice only grows or shrinks at its margin, so a channel
  that is half-way to zero is never swapped for a fresh one. A swap would
  cost twice: the half-shrunk channel was already damaged, and a swap
  between groups of different cost per channel can overshoot the budget
  by a whole channel of the costlier group.
"""

import numpy as np


def survivor_scores(plan, values, targeted):
    """Returns `{group name: scores}`: norms over the survivors' mean norm.

    Args:
        plan: The penalty's `GroupPlan`.
        values: Per-channel norms, indexed like `plan`.
        targeted: Bool per channel, `True` for the channels targeted so
            far.

    Returns:
        A dict of float arrays, one per group of `plan`.
    """
    values = np.asarray(values, dtype="float64")
    targeted = np.asarray(targeted, dtype=bool)
    scores = {}
    for i, name in enumerate(plan.group_names):
        part = slice(int(plan.offsets[i]), int(plan.offsets[i + 1]))
        norms = values[part]
        survivors = norms[~targeted[part]]
        mean = survivors.mean() if survivors.size else 0.0
        if not mean > 0:
            mean = norms.mean() if norms.size else 0.0
        scores[name] = norms / mean if mean > 0 else norms.copy()
    return scores


def budget_targets(model, plan, values, targeted, kind, fraction):
    """Returns a bool per channel: `True` for the channels that must go.

    Args:
        model: The model the penalty regularizes.
        plan: The penalty's `GroupPlan` (bound to `model`).
        values: Per-channel norms, indexed like `plan`.
        targeted: Bool per channel, the previous choice; these channels
            are chosen first.
        kind: `"macs"` or `"params"`.
        fraction: The budget, a fraction of the dense model's cost.

    Returns:
        A bool array of shape `(plan.num_channels,)`.

    Raises:
        ValueError: If no choice of channels meets the budget.
    """
    from tf_compact.pruning.prune import prune_masks

    scores = survivor_scores(plan, values, targeted)
    peaks = [float(np.max(v)) for v in scores.values() if v.size]
    top = 1.0 + max(peaks, default=0.0)
    for i, name in enumerate(plan.group_names):
        part = targeted[int(plan.offsets[i]) : int(plan.offsets[i + 1])]
        scores[name] = np.where(part, scores[name] - top, scores[name])
    masks = prune_masks(
        model,
        importance=scores,
        graph=plan.graph,
        **{f"target_{kind}": float(min(fraction, 1.0))},
    )
    out = np.zeros((plan.num_channels,), dtype=bool)
    for i, name in enumerate(plan.group_names):
        if name in masks:
            start, stop = int(plan.offsets[i]), int(plan.offsets[i + 1])
            out[start:stop] = ~np.asarray(masks[name], dtype=bool)
    return out
