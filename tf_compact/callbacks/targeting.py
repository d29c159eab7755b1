"""Choosing the channels a budget requires, for a targeted penalty.

`BudgetController(targeted=True)` penalizes only the channels that must go
for the slim model to meet the budget. They are chosen with the global
ranking of `tfc.prune` (`tf_compact.pruning.prune_masks` with a cost
target): every channel is scored by its norm over the mean norm of its
group, and the lowest-scoring channels are removed until the slim model
fits. With per-block budgets, `BlockSearch` applies the same ranking
within each block until the block's own cost fits.

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

from tf_compact.pruning.prune import prune_masks
from tf_compact.sparsity.report import keep_one_per_segment
from tf_compact.surgery.cost import cost_from_keep


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


def ranked_scores(plan, values, targeted):
    """Returns `{group name: scores}` where targeted channels rank first.

    The survivor scores of `survivor_scores`, with every channel targeted
    so far moved below every other channel (sticky targets).
    """
    targeted = np.asarray(targeted, dtype=bool)
    scores = survivor_scores(plan, values, targeted)
    peaks = [float(np.max(v)) for v in scores.values() if v.size]
    top = 1.0 + max(peaks, default=0.0)
    for i, name in enumerate(plan.group_names):
        part = targeted[int(plan.offsets[i]) : int(plan.offsets[i + 1])]
        scores[name] = np.where(part, scores[name] - top, scores[name])
    return scores


def budget_targets(model, plan, values, targeted, targets):
    """Returns a bool per channel: `True` for the channels that must go.

    Args:
        model: The model the penalty regularizes.
        plan: The penalty's `GroupPlan` (bound to `model`).
        values: Per-channel norms, indexed like `plan`.
        targeted: Bool per channel, the previous choice; these channels
            are chosen first.
        targets: `{"macs" or "params": fraction of the dense model's
            cost}`; with both, the choice meets both.

    Returns:
        A bool array of shape `(plan.num_channels,)`.

    Raises:
        ValueError: If no choice of channels meets the budget.
    """
    scores = ranked_scores(plan, values, targeted)
    masks = prune_masks(
        model,
        importance=scores,
        graph=plan.graph,
        **{
            f"target_{kind}": float(min(fraction, 1.0))
            for kind, fraction in targets.items()
        },
    )
    out = np.zeros((plan.num_channels,), dtype=bool)
    for i, name in enumerate(plan.group_names):
        if name in masks:
            start, stop = int(plan.offsets[i]), int(plan.offsets[i + 1])
            out[start:stop] = ~np.asarray(masks[name], dtype=bool)
    return out


def smallest_threshold(values, base, meets):
    """Returns `(threshold, met)`: the smallest threshold that meets a budget.

    A channel is pruned when its norm is below the threshold, so the
    candidates are `base` and the thresholds just above each channel norm
    larger than it; `meets(threshold)` must be monotone (a larger
    threshold prunes more). When no candidate meets the budget, returns
    the largest with `met=False`.

    Args:
        values: Per-channel norms.
        base: The smallest threshold allowed (the training threshold).
        meets: `threshold -> bool`.
    """
    values = np.asarray(values)
    above = np.nextafter(values, np.inf)
    candidates = np.unique(np.concatenate([[base], above[above > base]]))
    if not meets(candidates[-1]):
        return float(candidates[-1]), False
    lo, hi = 0, len(candidates) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if meets(candidates[mid]):
            hi = mid
        else:
            lo = mid + 1
    return float(candidates[lo]), True


class BlockSearch:
    """Chooses, block by block, the channels each block's budget requires.

    Each block's cost counts its own layers; a layer's cost depends on its
    input channels too, which an earlier block may own. The blocks are
    searched in order, each with the choices of the others applied, and the
    pass is repeated once, so the choice of a block sees what the blocks
    around it remove. Within a block, the channels go in the order of
    `ranked_scores` (lowest first, targeted channels first), as few as meet
    the block's budget; a group, and each producer in it, keeps at least
    one channel.

    Args:
        plan: The penalty's `GroupPlan` (bound to the model).
        channel_block: Block index of every channel (-1: none), as from
            `blocks.channel_blocks`.
        blocks: `{block name: [layer names]}`, in the order of the indices.
        kind: `"macs"` or `"params"`.
    """

    def __init__(self, plan, channel_block, blocks, kind):
        self.plan = plan
        self.graph = plan.graph
        self.channel_block = np.asarray(channel_block)
        self.blocks = dict(blocks)
        self.which = 0 if kind == "macs" else 1

    def dense_cost(self, name):
        """Returns the dense cost of block `name`'s layers."""
        return cost_from_keep(self.graph, None, self.blocks[name])[self.which]

    def block_cost(self, keep, name):
        """Returns the cost of block `name` with channels `keep` kept."""
        keep = keep_one_per_segment(self.plan, self._flat, keep)
        elements = self.graph.keep_elements(self.plan.split(keep))
        return cost_from_keep(self.graph, elements, self.blocks[name])[
            self.which
        ]

    def targets(self, values, targeted, fractions):
        """Returns `(chosen, unreachable)`.

        Args:
            values: Per-channel norms, indexed like the plan.
            targeted: Bool per channel, the previous choice.
            fractions: `{block name: budget fraction}` for the blocks to
                search (blocks with prunable channels).

        Returns:
            `chosen`, a bool per channel (`True`: must go), and the names
            of the blocks whose budget no choice meets (all their channels
            are chosen).
        """
        scores = ranked_scores(self.plan, values, targeted)
        self._flat = np.concatenate(
            [scores[n] for n in self.plan.group_names]
            or [np.zeros((0,), "float64")]
        )
        keep = np.ones((self.plan.num_channels,), dtype=bool)
        unreachable = set()
        for _ in range(2):
            for i, name in enumerate(self.blocks):
                if name not in fractions:
                    continue
                keep, met = self._search_block(keep, i, name, fractions[name])
                if not met:
                    unreachable.add(name)
        keep = keep_one_per_segment(self.plan, self._flat, keep)
        return ~keep, sorted(unreachable)

    def _search_block(self, keep, index, name, fraction):
        members = np.flatnonzero(self.channel_block == index)
        order = members[np.argsort(self._flat[members], kind="stable")]
        goal = fraction * self.dense_cost(name)

        def trial(count):
            out = keep.copy()
            out[members] = True
            out[order[:count]] = False
            return out

        lo, hi = 0, len(order)
        if self.block_cost(trial(hi), name) > goal:
            return trial(hi), False
        while lo < hi:
            mid = (lo + hi) // 2
            if self.block_cost(trial(mid), name) <= goal:
                hi = mid
            else:
                lo = mid + 1
        return trial(lo), True
