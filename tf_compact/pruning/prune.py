"""One-shot structural pruning: scores -> masks -> slim model."""

import warnings

from tf_compact.pruning.latency import TOLERANCE
from tf_compact.pruning.latency import measure_latency
from tf_compact.pruning.masks import latency_table_for
from tf_compact.pruning.masks import prune_masks
from tf_compact.pruning.masks import reused_sensitivity_tables
from tf_compact.pruning.validation import validate_criterion
from tf_compact.pruning.validation import validate_goal
from tf_compact.pruning.validation import validate_known_latency
from tf_compact.pruning.validation import validate_shape_args
from tf_compact.surgery.common import resolve_graph
from tf_compact.surgery.slim import slim


def prune(
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
    """Prunes channel groups of `model` in one shot and slims it.

    Channels are ranked with `group_importance` and the weakest removed
    until the goal is met; `tfc.slim` then builds the smaller model. Give
    exactly one goal (the two targets may be given together):

    - `ratio`: fraction of the prunable channels to remove. With
      `scope="global"` the weakest channels of the whole model go (scores
      normalized by their group's mean); with `"local"` every group loses
      `floor(ratio * size)` channels.
    - `target_macs` / `target_params`: the MACs or parameters (as
      counted by `tfc.estimate_slim_cost`) the pruned model may keep: a
      fraction of the original's (a float in (0, 1]) or an absolute count
      (an int >= 2; a float above 1 is refused). The smallest removal
      that meets the target is found by bisection over the global
      ranking (`"global"`) or a uniform ratio (`"local"`); the result
      lands at or just under the target. With both targets, the removal
      is the smallest that meets both. With
      `"sensitivity"` (needs `data`) each group is first cut alone to a
      few widths and the change of the model's predictions measured
      (`tf_compact.pruning.sensitivity`); widths are then taken away where
      that change grows least per unit of budget saved, and given back
      where they help most while the targets hold.
    - `target_latency`: the predicted latency, in milliseconds, the
      pruned model may take on the TFLite interpreter (float32, batch 1,
      `num_threads` threads; LiteRT with XNNPACK when installed). It
      comes from a per-group latency table (`tf_compact.pruning.latency`,
      measured here and cached on disk, or `latency_table=` measured on
      another device): the model's measured latency minus the time each
      cut group saves. The removal is found by the same bisection over
      the global ranking (or uniform ratio) as the other targets, with
      which it may be combined (all must hold); with
      `scope="sensitivity"`, widths go where the measured change grows
      least per millisecond saved. `prune` then measures the slim model
      and, while it takes more than 10% above the target, tightens the
      prediction and prunes again; while it takes less than 80% of the
      target, it loosens it (a few times at most, keeping the slowest
      model that fits; the sensitivity table is measured once).
    - `threshold`: remove every channel whose raw (unnormalized) score is
      below it; with `"l2"` this is the group-lasso norm, which is how
      training-time group sparsity becomes a slim model.
    - `widths`: the kept width of chosen groups, `{name: count}`, where a
      name is a group's name or any producer layer in it; each keeps its
      `count` best-scored channels, the other groups keep all theirs. This
      is how a student architecture chosen by hand (a "simplified
      teacher") inherits the teacher's strongest channels. `scope`,
      `min_channels` and `round_to` do not apply.

    Args:
        model: A Sequential or Functional `keras.Model` (not modified).
        ratio: Fraction of channels to remove, in [0, 1). Defaults to
            `None`.
        target_macs: MACs to keep: a float in (0, 1] (fraction) or an
            int >= 2 (count). Defaults to `None`.
        target_params: Parameters to keep, likewise. Defaults to `None`.
        target_latency: Milliseconds the pruned model may take, a finite
            float > 0 (NumPy scalars accepted). Defaults to `None`.
        threshold: Absolute score threshold, finite and >= 0. Defaults to
            `None`.
        widths: Dict `{group or producer layer name: kept channels}`, each
            count an int in [1, group size]. Defaults to `None`.
        importance: A criterion of `group_importance` (`"l2"`, `"l1"`,
            `"bn_gamma"`, `"taylor"`) or a dict of precomputed scores
            `{group name: array}` of finite numbers. Defaults to `"l2"`.
        scope: `"global"`, `"local"` or `"sensitivity"` (targets only).
            Defaults to `"global"`.
        min_channels: Every group keeps at least this many channels.
            Defaults to `1`.
        round_to: Kept widths are rounded up to a multiple of this (8 suits
            most accelerators), or `None`. Defaults to `None`.
        ignored_layers: Layer names (or layers) whose output channels are
            not pruned. Defaults to `()`.
        data: Batches for the `"taylor"` criterion and for
            `scope="sensitivity"` (which reads its first 8). Defaults to
            `None`.
        graph: The `ChannelGraph` of `model`. Defaults to `None`.
        latency_table: For `target_latency`: a `LatencyTable` (e.g. from
            `LatencyTable.from_benchmark_model`) or the path of a
            benchmark_model table; `None` measures one here. Defaults to
            `None`.
        num_threads: Interpreter threads the latency is measured with.
            Defaults to `1`.
        verbose: `1` shows the long steps as they run: what the
            sensitivity table and a measured latency table measure, with a
            progress bar and the time left; `0` prints nothing. Defaults
            to `1`.

    Returns:
        The slim `keras.Model`.

    Raises:
        ValueError: For invalid arguments (NaN or infinite scores
            included, naming the group), a target that cannot be met, or
            a `target_macs` or `target_latency` for a model whose input
            takes any size (`keras.Input((None, None, 3))`): its MACs and
            latency depend on that size, so rebuild it on a fixed one.
        MaskError: If precomputed scores do not fit the groups.

    Example:

    ```python
    small = tfc.prune(model, target_macs=0.5, round_to=8)
    narrow = tfc.prune(model, widths={"conv2": 24, "fc1": 64})
    measured = tfc.prune(model, target_params=0.1, scope="sensitivity",
                         data=x_train[:512], round_to=8)
    fast = tfc.prune(model, target_latency=2.5, round_to=8)
    ```
    """
    if not isinstance(importance, dict):
        validate_criterion(importance, "importance")
    graph = resolve_graph(model, graph)
    if not graph.groups:
        warnings.warn(
            f"tfc.prune: model {model.name!r} has no channel group that can "
            "be pruned (convolutions in channels_first format, grouped "
            "convolutions and layers kept whole have none), so nothing is "
            "removed. `tfc.ChannelGraph(model).summary()` shows the graph.",
            stacklevel=2,
        )
    kwargs = {
        "target_macs": target_macs,
        "target_params": target_params,
        "threshold": threshold,
        "widths": widths,
        "importance": importance,
        "scope": scope,
        "min_channels": min_channels,
        "round_to": round_to,
        "ignored_layers": ignored_layers,
        "data": data,
        "graph": graph,
        "num_threads": num_threads,
        "verbose": verbose,
    }
    if target_latency is None:
        masks = prune_masks(model, ratio, latency_table=latency_table, **kwargs)
        return slim(model, masks, graph=graph)
    validate_goal(
        ratio, target_macs, target_params, threshold, widths, target_latency
    )
    validate_known_latency(model, target_latency)
    validate_shape_args(scope, min_channels, round_to)
    table = latency_table_for(
        model,
        graph,
        latency_table,
        num_threads,
        (min_channels, round_to),
        verbose,
    )
    return _prune_to_latency(model, ratio, float(target_latency), table, kwargs)


#: Re-measured tries `prune` makes when the slim model misses its
#: latency target by more than `TOLERANCE` above, or lands below
#: `LOOSEN_BELOW` times it.
LATENCY_RETRIES = 5

#: A slim model measured under this fraction of its latency target is
#: pruned again with a looser budget (the table over-predicted).
LOOSEN_BELOW = 0.8


def _prune_to_latency(model, ratio, target, table, kwargs):
    """Prunes to `target` ms; re-measures and tightens while it misses.

    Only a table measured on this machine is checked against a
    measurement here: times taken on another device cannot be.
    """
    with reused_sensitivity_tables():
        return _tighten_to_latency(model, ratio, target, table, kwargs)


def _tighten_to_latency(model, ratio, target, table, kwargs):
    graph = kwargs["graph"]
    limit, fastest, fitting, tried = target, None, None, []
    for _ in range(LATENCY_RETRIES + 1):
        try:
            masks = prune_masks(
                model,
                ratio,
                target_latency=limit,
                latency_table=table,
                **kwargs,
            )
        except ValueError:
            if fastest is None:
                raise
            break
        small = slim(model, masks, graph=graph)
        if not table.measured_here:
            return small
        measured = measure_latency(small, table.meta["num_threads"])
        if fastest is None or measured < fastest[0]:
            fastest = (measured, small)
        if measured <= target * (1 + TOLERANCE):
            if fitting is None or measured > fitting[0]:
                fitting = (measured, small)
            if measured >= target * LOOSEN_BELOW:
                return small
        tried.append((limit, measured))
        limit = _next_limit(tried, target)
    if fitting is not None:
        # Far under the target at every try that fits: the slowest such.
        return fitting[1]
    warnings.warn(
        f"tfc.prune: the fastest pruned model found measures "
        f"{fastest[0]:.4g} ms, above target_latency={target:.4g} ms (with "
        f"{TOLERANCE:.0%} tolerance), after {len(tried)} measured tries "
        f"(the unpruned model: {table.model_ms:.4g} ms). The target lies "
        "below what these constraints reach on this machine; it is "
        "returned as it is. Raise the target, or loosen `round_to` and "
        "`min_channels`.",
        stacklevel=3,
    )
    return fastest[1]


def _next_limit(tried, target):
    """The next limit: a secant step on `(limit, measured)`, else a ratio;
    tighter after a miss above the target, looser after one far below."""
    limit, measured = tried[-1]
    step = limit * target / measured
    if len(tried) > 1:
        (l0, m0), (l1, m1) = tried[-2], tried[-1]
        if m1 != m0 and (m1 - m0) / (l1 - l0) > 0:
            step = l1 + (target - m1) * (l1 - l0) / (m1 - m0)
    if measured > target:
        return min(max(step, 0.3 * limit), 0.98 * limit)
    return min(max(step, 1.02 * limit), 3.0 * limit)
