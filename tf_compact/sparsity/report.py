"""`sparsity_report`: which channels are (nearly) zero, and what slimming
them would save."""

import math

import numpy as np

from tf_compact.sparsity import validation
from tf_compact.sparsity.group_lasso import GroupLasso
from tf_compact.surgery.cost import cost_from_keep


class SparsityReport:
    """Per-channel norms of a model, the channels below a threshold, and the
    cost of the slim model that pruning them would give.

    Built by `tfc.sparsity_report`. Every array is indexed like the bound
    `GroupPlan`: the channels of `groups[0]`, then of `groups[1]`, ...

    Attributes:
        threshold: The threshold used.
        norms: `{group name: float array}`, one norm (L1 sum for
            `BNGammaL1`) per channel.
        masks: `{group name: bool array}`, `True` for the channels kept. A
            group (and each producer layer in it) always keeps its largest
            channel.
        num_channels: Number of prunable channels.
        num_below: Number of channels whose norm is `< threshold`.
        fraction_below: `num_below / num_channels` (`group_sparsity` in
            the controllers' logs).
        macs, params: Cost of `tfc.slim(model, masks)`.
        dense_macs, dense_params: Cost of the model itself.
        macs_fraction, params_fraction: `macs / dense_macs`, ...
        block_macs: `{block: (slim macs, dense macs)}` when blocks were
            given, else `{}`.
        block_params: `{block: (slim params, dense params)}`, likewise.

    Example:

    ```python
    report = tfc.sparsity_report(model, threshold=1e-3)
    print(report.table())
    slim = tfc.slim(model, report.masks)
    ```
    """

    def __init__(self, plan, values, threshold, keep, costs, dense, blocks):
        self.threshold = float(threshold)
        values = np.asarray(values, dtype="float64")
        below = values < self.threshold
        self.values = values
        self.keep = keep
        self.group_names = list(plan.group_names)
        self.norms = plan.split(values)
        self.masks = plan.split(keep)
        self.num_channels = int(values.size)
        self.num_below = int(np.count_nonzero(below))
        self.fraction_below = self.num_below / max(self.num_channels, 1)
        self.macs, self.params = (int(c) for c in costs)
        self.dense_macs, self.dense_params = (int(c) for c in dense)
        self.macs_fraction = _ratio(self.macs, self.dense_macs)
        self.params_fraction = _ratio(self.params, self.dense_params)
        self.block_macs = {k: (v[0][0], v[1][0]) for k, v in blocks.items()}
        self.block_params = {k: (v[0][1], v[1][1]) for k, v in blocks.items()}

    def rows(self):
        """Returns one dict per group: name, size, kept, norm statistics."""
        out = []
        for name in self.group_names:
            norms = self.norms[name]
            out.append(
                {
                    "group": name,
                    "size": int(norms.size),
                    "kept": int(np.count_nonzero(self.masks[name])),
                    "below": int(np.count_nonzero(norms < self.threshold)),
                    "min": float(norms.min()) if norms.size else 0.0,
                    "median": float(np.median(norms)) if norms.size else 0.0,
                    "max": float(norms.max()) if norms.size else 0.0,
                }
            )
        return out

    def table(self):
        """Returns a printable table of the groups and the totals."""
        head = (
            f"{'group':<28} {'size':>5} {'kept':>5} {'min':>9} "
            f"{'median':>9} {'max':>9}"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows():
            lines.append(
                f"{r['group']:<28} {r['size']:>5} {r['kept']:>5} "
                f"{r['min']:>9.3g} {r['median']:>9.3g} {r['max']:>9.3g}"
            )
        lines.append(
            f"{self.num_below}/{self.num_channels} channels < "
            f"{self.threshold:g} ({self.fraction_below:.1%}); slim model: "
            f"{self.macs:,} MACs ({self.macs_fraction:.1%}), "
            f"{self.params:,} params ({self.params_fraction:.1%})"
        )
        return "\n".join(lines)

    def logs(self):
        """Returns the values the controllers write into Keras `logs`."""
        return {
            "group_sparsity": self.fraction_below,
            "slim_macs_fraction": self.macs_fraction,
            "slim_params_fraction": self.params_fraction,
        }

    def to_dict(self):
        """Returns the report as JSON values."""
        return {
            "threshold": self.threshold,
            "num_channels": self.num_channels,
            "num_below": self.num_below,
            "fraction_below": self.fraction_below,
            "macs": self.macs,
            "params": self.params,
            "dense_macs": self.dense_macs,
            "dense_params": self.dense_params,
            "macs_fraction": self.macs_fraction,
            "params_fraction": self.params_fraction,
            "groups": self.rows(),
        }

    def __repr__(self):
        return (
            f"SparsityReport(below={self.num_below}/{self.num_channels}, "
            f"macs_fraction={self.macs_fraction:.3f})"
        )


def sparsity_report(model, threshold=1e-3, penalty=None, blocks=None):
    """Reports the channel norms of `model` and the slim model they imply.

    A channel's norm is the L2 norm of every weight coupled to it (the
    penalty's members: producer kernel and bias slices, BN gamma and
    beta), or the L1 sum of its BN scales when `penalty` is a
    `tfc.BNGammaL1`. Channels whose norm is `< threshold` are the ones a
    prune at that threshold removes (a group always keeps one channel);
    the report gives their count and the MACs/params of the slim model,
    estimated analytically with `tfc.estimate_slim_cost`.

    Args:
        model: A Sequential or Functional `keras.Model`.
        threshold: Norm below which a channel counts as zero (the same
            rule as `tfc.prune(model, threshold=...)`). Defaults to `1e-3`.
        penalty: The `tfc.GroupLasso`/`tfc.BNGammaL1` whose norms to use.
            Defaults to `None`, a default `tfc.GroupLasso`.
        blocks: Optional `{block name: [layer names]}`; the report then
            also gives the slim and dense MACs and params of each block's
            layers. Defaults to `None`.

    Returns:
        A `SparsityReport`.

    Raises:
        ValueError: If `threshold` is negative.

    Example:

    ```python
    report = tfc.sparsity_report(model, threshold=1e-3)
    print(report.table())
    print(report.macs_fraction, report.fraction_below)
    ```
    """
    threshold = validation.validate_non_negative("threshold", threshold)
    if penalty is None:
        penalty = GroupLasso(strength=0.0)
    plan = penalty.bind(model)
    values = np.asarray(penalty.channel_values(model))
    return build_report(plan, values, threshold, blocks)


def build_report(plan, values, threshold, blocks=None):
    """Builds a `SparsityReport` from per-channel `values` of a plan."""
    graph = plan.graph
    values = np.asarray(values, dtype="float64")
    keep = keep_one_per_segment(plan, values, values >= threshold)
    element_keep = graph.keep_elements(plan.split(keep))
    slim = cost_from_keep(graph, element_keep)
    dense = cost_from_keep(graph, None)
    block_costs = {}
    for name, layers in (blocks or {}).items():
        block_costs[name] = (
            cost_from_keep(graph, element_keep, layers),
            cost_from_keep(graph, None, layers),
        )
    return SparsityReport(
        plan, values, threshold, keep, slim, dense, block_costs
    )


def keep_one_per_segment(plan, values, keep):
    """Keeps the strongest channel of each group, and of each producer in
    a group (`graph.segments`), that would otherwise lose all channels."""
    keep = np.array(keep, dtype=bool)
    segments = getattr(plan.graph, "segments", {})
    for i, name in enumerate(plan.group_names):
        start, stop = int(plan.offsets[i]), int(plan.offsets[i + 1])
        parts = [np.asarray(c) for _, c in segments.get(name, ())]
        for channels in parts or [np.arange(stop - start)]:
            index = start + channels
            if index.size and not keep[index].any():
                keep[index[int(np.argmax(values[index]))]] = True
    return keep


def _ratio(part, whole):
    return part / whole if whole else (1.0 if part == 0 else math.inf)
