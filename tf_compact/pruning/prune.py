"""One-shot structural pruning: scores -> masks -> slim model."""

from tf_compact.internal.user_warning import warn
from tf_compact.pruning.latency_search import prune_to_latency
from tf_compact.pruning.masks import latency_table_for
from tf_compact.pruning.masks import prune_masks
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
      least per millisecond saved. With a table measured here, `prune`
      then measures the slim model beside the unpruned one and, while it
      lands more than 10% above or below the target, corrects the
      prediction by what it measured and prunes again (a few times at
      most, keeping the slowest model within 10% above the target; the
      sensitivity table is measured once). A target the prediction
      says is out of reach is refused only when the smallest model
      allowed also measures above it
      (`tf_compact.pruning.latency_search`).
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
        warn(
            f"tfc.prune: model {model.name!r} has no channel group that can "
            "be pruned (convolutions in channels_first format, grouped "
            "convolutions and layers kept whole have none), so nothing is "
            "removed. `tfc.ChannelGraph(model).summary()` shows the graph.",
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
    return prune_to_latency(model, float(target_latency), table, kwargs)
