"""The masks of one-shot pruning: scores, a goal and a scope -> masks.

`prune_masks` turns importance scores into `{group: keep mask}` for a
ratio, a threshold, given widths, or MACs/parameter/latency targets
(global, per-layer or sensitivity-allocated); `prune` slims with them.
"""

import contextlib
import os

from tf_compact.graph.channel_graph import _validate_mask
from tf_compact.internal.targets import parse_target
from tf_compact.internal.targets import target_fraction
from tf_compact.internal.user_warning import warn
from tf_compact.pruning.allocation import allocate
from tf_compact.pruning.importance import group_importance
from tf_compact.pruning.latency import build_latency_table
from tf_compact.pruning.latency_table import LatencyPredictor
from tf_compact.pruning.latency_table import LatencyTable
from tf_compact.pruning.selection import Selector
from tf_compact.pruning.sensitivity import sensitivity_table
from tf_compact.pruning.validation import UnreachableTarget
from tf_compact.pruning.validation import validate_goal
from tf_compact.pruning.validation import validate_known_latency
from tf_compact.pruning.validation import validate_known_macs
from tf_compact.pruning.validation import validate_scores
from tf_compact.pruning.validation import validate_shape_args
from tf_compact.pruning.widths import resolve_widths
from tf_compact.pruning.widths import width_masks
from tf_compact.surgery.common import resolve_graph
from tf_compact.surgery.cost import cost_from_keep


def prune_masks(
    model,
    ratio=None,
    *,
    target_macs=None,
    target_params=None,
    target_latency=None,
    threshold=None,
    widths=None,
    importance="l2",
    scope="global",
    min_channels=1,
    round_to=None,
    ignored_layers=(),
    data=None,
    graph=None,
    latency_table=None,
    num_threads=1,
    verbose=1,
):
    """The masks `prune` would apply, without slimming.

    Takes the same arguments as `prune`.

    Returns:
        Dict `{group name: boolean array}` for `tfc.slim`.

    Example:

    ```python
    masks = tfc.pruning.prune_masks(model, ratio=0.3)
    small = tfc.slim(model, masks)
    ```
    """
    goal = validate_goal(
        ratio, target_macs, target_params, threshold, widths, target_latency
    )
    validate_shape_args(scope, min_channels, round_to)
    graph = resolve_graph(model, graph)
    # Before any scoring: what the targets count must be known.
    validate_known_macs(graph.model, target_macs)
    validate_known_latency(graph.model, target_latency)
    if goal == "widths":
        wanted = resolve_widths(graph, widths)
    if scope == "sensitivity":
        _validate_sensitivity(goal, data)
    scores = _scores(model, graph, importance, goal, scope, data)
    scores = _drop_ignored(graph, scores, ignored_layers)
    if goal == "widths":
        return width_masks(graph, scores, wanted)
    selector = Selector(scores, min_channels, round_to, graph.segments)
    if goal == "threshold":
        return selector.threshold_masks(threshold)
    if goal == "ratio":
        if scope == "local":
            return selector.local_masks(ratio)
        return selector.global_masks(round(ratio * selector.total))
    targets = _fraction_targets(graph, target_macs, target_params)
    latency = None
    if target_latency is not None:
        table = latency_table_for(
            model,
            graph,
            latency_table,
            num_threads,
            (min_channels, round_to),
            verbose,
        )
        predictor = LatencyPredictor(table, graph)
        latency = (predictor, float(target_latency), target_latency)
    if scope == "sensitivity":
        shape = (min_channels, round_to)
        args = (model, graph, scores, data, targets, shape, latency, verbose)
        return _sensitivity_or_global(args, selector, target_latency)
    return _search_target(graph, selector, scope, targets, latency)


def latency_table_for(model, graph, latency_table, num_threads, shape, verbose):
    """The given table keyed by `graph`'s groups, or one measured here
    (`shape` is `(min_channels, round_to)`)."""
    if latency_table is None:
        return build_latency_table(
            model,
            graph,
            num_threads=num_threads,
            min_channels=shape[0],
            round_to=shape[1],
            verbose=verbose,
        )
    if isinstance(latency_table, (str, os.PathLike)):
        latency_table = LatencyTable.from_benchmark_model(latency_table)
    if not isinstance(latency_table, LatencyTable):
        raise TypeError(
            "Invalid value for argument `latency_table`. Expected a "
            "`LatencyTable`, a path to a benchmark_model table, or None. "
            f"Received: latency_table={latency_table!r}"
        )
    return latency_table.for_graph(graph)


#: Sensitivity tables by model, data and widths while
#: `reused_sensitivity_tables()` is open; `None` when it is not.
_reused_tables = None


@contextlib.contextmanager
def reused_sensitivity_tables():
    """Within it, each model's sensitivity table is measured once (for the
    re-measured tries of a latency budget)."""
    global _reused_tables
    _reused_tables = {}
    try:
        yield
    finally:
        _reused_tables = None


def _sensitivity_or_global(args, selector, target_latency):
    """`_sensitivity_masks(*args)`, or the global ranking's masks when the
    allocation stalls above a latency target (its greedy cuts can stop
    where the table is flat between timed widths)."""
    _, graph, _, _, targets, _, latency, _ = args
    try:
        return _sensitivity_masks(*args)
    except LatencyUnreached as stalled:
        masks = _search_target(graph, selector, "global", targets, latency)
        warn(
            "tfc.prune: the sensitivity allocation stopped at "
            f"{stalled.predicted:.4g} ms predicted, above "
            f"target_latency={target_latency!r}; the global ranking "
            "reaches the target and is used instead.",
        )
        return masks


def _sensitivity_masks(
    model, graph, scores, data, targets, shape, latency, verbose
):
    min_channels, round_to = shape
    key = (id(model), id(data), min_channels, round_to)
    tables = {} if _reused_tables is None else _reused_tables
    if key not in tables:
        tables[key] = sensitivity_table(
            model,
            graph,
            scores,
            data,
            round_to or 1,
            min_channels,
            verbose=verbose,
        )
    table = tables[key]
    widths = allocate(
        graph,
        scores,
        table,
        [(which, value) for which, value, *_ in targets],
        round_to or 1,
        min_channels,
        latency=None if latency is None else latency[:2],
    )
    masks = width_masks(graph, scores, widths)
    _check_reached(graph, masks, targets)
    if latency is not None:
        _check_latency(masks, *latency)
    return masks


def _scores(model, graph, importance, goal, scope, data):
    if isinstance(importance, dict):
        for name, s in importance.items():
            graph.group(name)
            _validate_mask(name, [True] * len(s), graph.group(name).size)
        validate_scores(importance, "importance")
        return {k: importance[k] for k in importance}
    normalize = None if goal == "threshold" or scope == "local" else "mean"
    scores = group_importance(
        model, graph, criterion=importance, data=data, normalize=normalize
    )
    validate_scores(scores, f"criterion {importance!r}")
    return scores


def _validate_sensitivity(goal, data):
    if goal not in ("targets", "target_macs", "target_params"):
        raise ValueError(
            "scope='sensitivity' allocates widths to meet `target_macs` "
            f"and/or `target_params`; it does not apply to `{goal}`."
        )
    if data is None:
        raise ValueError(
            "scope='sensitivity' measures the model on a few batches: pass "
            "`data` (inputs, or batches of (x, y))."
        )


def _drop_ignored(graph, scores, ignored_layers):
    names = {getattr(x, "name", x) for x in ignored_layers}
    layer_names = {n.name for n in graph.flat.nodes}
    unknown = sorted(names - layer_names)
    if unknown:
        raise ValueError(
            "Invalid value for argument `ignored_layers`: no layer named "
            f"{unknown[0]!r} in model '{graph.model.name}'. Received: "
            f"ignored_layers={sorted(names)}"
        )
    kept = {}
    for group in graph.groups:
        if group.name in scores and not names & set(group.layers("producer")):
            kept[group.name] = scores[group.name]
    return kept


def _search_target(graph, selector, scope, targets, latency=None):
    """The smallest removal whose cost meets every `(which, target, name)`.

    `latency`, when given, is `(table, limit ms, value)`: the predicted
    latency must be at most `limit` too.
    """
    full = cost_from_keep(graph, graph.keep_elements({}))

    def fits(masks):
        if latency and latency[0](masks) > latency[1]:
            return False
        cost = cost_from_keep(graph, graph.keep_elements(masks))
        return all(cost[w] <= t * full[w] for w, t, *_ in targets)

    if scope == "local":
        make, lo, hi = selector.local_masks, 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if fits(make(mid)) else (mid, hi)
        best = make(hi)
    else:
        make, lo, hi = selector.global_masks, 0, selector.total
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if fits(make(mid)) else (mid + 1, hi)
        counts = selector.refine(selector.global_counts(lo), fits)
        best = selector.masks_for_counts(counts)
    _check_reached(graph, best, targets)
    if latency is not None:
        _check_latency(best, *latency)
    return best


class LatencyUnreached(ValueError):
    """No removal found brings the predicted latency to the target."""

    def __init__(self, message, predicted):
        super().__init__(message)
        self.predicted = predicted


def _check_latency(best, predictor, limit, value):
    predicted = predictor(best)
    if predicted > limit:
        raise LatencyUnreached(
            "Invalid value for argument `target_latency`: the model cannot "
            f"be pruned to {limit:.4g} ms; with the given constraints the "
            f"smallest predicted latency is {predicted:.4g} ms (unpruned: "
            f"{predictor.table.model_ms:.4g} ms). Received: "
            f"target_latency={value!r}",
            predicted,
        )


def _check_reached(graph, best, targets):
    full = cost_from_keep(graph, graph.keep_elements({}))
    reached = cost_from_keep(graph, graph.keep_elements(best))
    for which, target, name, value in targets:
        fraction = reached[which] / full[which]
        if fraction > target:
            raise UnreachableTarget(
                name,
                value,
                target,
                fraction,
                full[which],
                _what(which),
                graph.fixed_layers,
            )


def _fraction_targets(graph, target_macs, target_params):
    """`[(which, fraction, name, value)]`: counts as fractions of the cost."""
    full = cost_from_keep(graph, graph.keep_elements({}))
    return [
        (
            which,
            target_fraction(parse_target(name, value), full[which], name),
            name,
            value,
        )
        for which, (name, value) in enumerate(
            (("target_macs", target_macs), ("target_params", target_params))
        )
        if value is not None
    ]


def _what(which):
    return "MACs" if which == 0 else "parameters"
