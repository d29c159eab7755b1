"""The greedy width allocation of `scope="sensitivity"`.

Widths are removed where the measured loss (`sensitivity_table`) grows
least per unit of the budget saved, until every target is met, then given
back where they help most while the targets still hold. The budgets are
MACs, parameters and, with a latency table, predicted milliseconds.
"""

import numpy as np

from tf_compact.pruning.selection import keep_count
from tf_compact.pruning.selection import top_mask
from tf_compact.surgery.cost import cost_from_keep
from tf_compact.surgery.cost import layers_by_group

#: No group is cut below this share of the uniform width that would meet
#: the tightest target (cost grows about as width squared, so that width is
#: `sqrt(target)` of the original). Each group's loss is measured with the
#: others intact; far below the uniform width those losses saturate, the
#: table turns flat, and the greedy would cut a group to a single channel.
FLOOR_SHARE = 0.5
#: Index of the predicted latency in a cost (after MACs and params).
LATENCY = 2


def allocate(
    graph, scores, table, targets, step=1, min_channels=1, latency=None
):
    """Per-group widths meeting `targets`, guided by `table`.

    No group goes below `FLOOR_SHARE` of the uniform width that would meet
    the tightest target, unless the targets cannot be met above those
    floors: then groups narrow further, down to `min_channels`.

    Args:
        graph: The `ChannelGraph`.
        scores: `{group name: scores}` of the prunable groups.
        table: `sensitivity_table(...)` of the same groups.
        targets: `[(which, fraction), ...]`, `which` 0 for MACs and 1 for
            parameters, each a fraction of the unpruned cost.
        step: Widths move by this many channels (`round_to`). Defaults to
            `1`.
        min_channels: Smallest width of a group. Defaults to `1`.
        latency: `(predictor, limit)`: a `LatencyPredictor` of the graph
            and the milliseconds the model may take, a target beside the
            others (the loss is then weighed against time saved too).
            Defaults to `None`.

    Returns:
        `{group name: width}` for every group of `scores`.
    """
    search = _Allocation(graph, scores, table, targets, latency)
    fractions = [fraction for _, fraction in targets]
    if latency is not None:
        fractions.append(latency[1] / search.full[LATENCY])
    uniform = min([np.sqrt(max(f, 0.0)) for f in fractions] or [1.0])
    # Down to the floors first; below them only if the targets need it
    # (`shrink` stops as soon as they are met).
    for share in (uniform * FLOOR_SHARE, 0.0):
        floor = {
            name: keep_count(
                len(s), int(np.ceil(len(s) * share)), min_channels, step
            )
            for name, s in scores.items()
        }
        search.shrink(floor, step)
    search.grow(step)
    return search.widths


class _Allocation:
    """The greedy search of `allocate`: widths, their cost and loss."""

    def __init__(self, graph, scores, table, targets, latency=None):
        self.graph = graph
        self.scores = scores
        self.predictor = None if latency is None else latency[0]
        self.full = self.cost({})
        self.limits = {which: f * self.full[which] for which, f in targets}
        if latency is not None:
            self.limits[LATENCY] = latency[1]
        self.widths = {name: len(score) for name, score in scores.items()}
        self.curves = {}
        for name in scores:
            known = sorted(table[name])
            self.curves[name] = (known, [table[name][k] for k in known])
        self.current = self.cost(self.widths)
        # Without a latency predictor the cost is a sum over layers: a
        # trial moves the cost of the layers its group touches only, and
        # that change holds until a group sharing one of them moves.
        self.keep = graph.keep_elements({})
        self.touched = layers_by_group(graph)
        self.deltas = {}
        self.elements = {
            g.name: np.nonzero(graph.element_group == i)[0]
            for i, g in enumerate(graph.groups)
        }

    def cost(self, candidate):
        """`[MACs, params]` of the widths, and the predicted ms with a
        latency target."""
        masks = {
            name: top_mask(self.scores[name], k)
            for name, k in candidate.items()
            if k < len(self.scores[name])
        }
        cost = list(cost_from_keep(self.graph, self.graph.keep_elements(masks)))
        if self.predictor is not None:
            cost.append(self.predictor(masks))
        return cost

    def trial(self, name, width):
        """The cost with group `name` at `width`, the others as they are."""
        if self.predictor is not None:
            return self.cost({**self.widths, name: width})
        key = (name, width)
        if key not in self.deltas:
            layers = self.touched[name]
            after = self._keep_with(name, width)
            before = cost_from_keep(self.graph, self.keep, layers)
            moved = cost_from_keep(self.graph, after, layers)
            self.deltas[key] = [a - b for a, b in zip(moved, before)]
        return [c + d for c, d in zip(self.current, self.deltas[key])]

    def take(self, name, width, cost):
        """Moves group `name` to `width`, whose cost is `cost`."""
        self.widths[name] = width
        self.current = cost
        self.keep = self._keep_with(name, width)
        moved = self.touched[name]
        self.deltas = {
            key: delta
            for key, delta in self.deltas.items()
            if not self.touched[key[0]] & moved
        }

    def _keep_with(self, name, width):
        keep = self.keep.copy()
        elements = self.elements[name]
        mask = top_mask(self.scores[name], width)
        keep[elements] = mask[self.graph.element_channel[elements]]
        return keep

    def loss(self, name, width):
        return float(np.interp(width, *self.curves[name]))

    def _over(self, cost):
        return any(cost[w] > limit for w, limit in self.limits.items())

    def shrink(self, floor, step):
        """Narrows the group that loses least per cost saved, until met."""
        while self._over(self.current):
            best = None
            for name, width in self.widths.items():
                lower = max(width - step, floor[name])
                if lower >= width:
                    continue
                trial = self.trial(name, lower)
                saved = sum(
                    (self.current[w] - trial[w]) / max(limit, 1e-12)
                    for w, limit in self.limits.items()
                    if self.current[w] > limit
                )
                if saved <= 0:
                    continue
                grow = max(self.loss(name, lower) - self.loss(name, width), 0)
                rank = grow / saved
                if best is None or rank < best[0]:
                    best = (rank, name, lower, trial)
            if best is None:
                return
            self.take(*best[1:])

    def grow(self, step):
        """Widens the group that gains most per cost, while targets hold."""
        while True:
            best = None
            for name, width in self.widths.items():
                upper = min(width + step, len(self.scores[name]))
                if upper <= width:
                    continue
                trial = self.trial(name, upper)
                if self._over(trial):
                    continue
                added = sum(
                    (trial[w] - self.current[w]) / max(limit, 1e-12)
                    for w, limit in self.limits.items()
                )
                gain = self.loss(name, width) - self.loss(name, upper)
                rank = gain / max(added, 1e-12)
                if best is None or rank > best[0]:
                    best = (rank, name, upper, trial)
            if best is None:
                return
            self.take(*best[1:])
