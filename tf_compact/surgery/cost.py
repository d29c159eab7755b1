"""Analytic MACs and parameter counts of the model `slim` would build."""

import math

import numpy as np

from tf_compact.graph.handler import weight_keys
from tf_compact.profile import call_cost
from tf_compact.surgery.common import bindings_by_layer
from tf_compact.surgery.common import resolve_graph


def estimate_slim_cost(model, masks=None, graph=None):
    """MACs and parameters of `slim(model, masks)`, without building it.

    Computed from the kept-channel counts of every weight axis bound to a
    channel group, so it costs a few milliseconds and can run every epoch.
    Parameters count every weight (trainable or not), like
    `model.count_params()`. MACs are those of `tf_compact.profile` at
    `batch_size=1`, from its cost functions evaluated at the kept channel
    counts: convolutions, Dense, attention (projections and the two
    attention products) and every layer with a registered cost function;
    element-wise work is not counted. Unknown spatial sizes count as 1.
    So `estimate_slim_cost(model, masks)` equals
    `(profile(slim(model, masks)).macs, slim(model, masks).count_params())`
    (tested on the reference models and every supported layer kind).

    Args:
        model: A Sequential or Functional `keras.Model`.
        masks: Dict `{group name: boolean array}`, or `None` for the
            unpruned model. Defaults to `None`.
        graph: The `ChannelGraph` of `model`. Defaults to `None` (built
            here; pass it when calling repeatedly).

    Returns:
        A tuple `(macs, params)` of ints.

    Raises:
        MaskError: If `masks` does not fit the graph's groups.

    Example:

    ```python
    graph = tfc.ChannelGraph(model)
    macs0, params0 = tfc.estimate_slim_cost(model, graph=graph)
    macs, params = tfc.estimate_slim_cost(model, masks, graph=graph)
    print(f"{macs / macs0:.1%} of the MACs remain")
    ```
    """
    graph = resolve_graph(model, graph)
    keep = graph.keep_elements(masks or {})
    return cost_from_keep(graph, keep)


def cost_from_keep(graph, keep, layers=None):
    """`(macs, params)` for a keep flag per channel element of `graph`.

    Args:
        graph: A `tfc.ChannelGraph`.
        keep: Keep flags per channel space (`graph.keep_elements(masks)`),
            or `None` for the dense model.
        layers: Optional collection of layer names to count; all layers
            when `None`. Defaults to `None`.
    """
    wanted = None if layers is None else set(layers)
    table = cost_table(graph)
    params = 0
    for layer, full, axes in table.weights:
        if wanted is not None and layer not in wanted:
            continue
        params += _kept_size(full, axes, keep)
    macs = 0
    counts = _KeptCounts(keep)
    for row in table.calls:
        if wanted is None or row.name in wanted:
            macs += row.macs(counts)
    return int(macs), int(params)


def _kept_size(full, axes, keep):
    size = full
    if keep is not None:
        for dim, space in axes:
            size = size // dim * int(np.count_nonzero(keep[space]))
    return size


class _CallRow:
    """MACs of one layer call as a function of the kept channels.

    The profiler's cost function of the layer is evaluated at the call's
    shapes with each channel axis set to its kept count (batch of one,
    unknown sizes as 1). Layers without a cost function fall back to the
    MACs their handler declared per weight entry (`count_macs`).
    """

    def __init__(self, node, graph, weights):
        self.name = node.name
        self.layer = node.layer
        self.in_shapes = [_known(s) for s in node.input_shapes]
        self.out_shapes = [_known(s) for s in node.output_shapes]
        self.in_spaces = [graph.spaces[k] for k in node.inputs]
        self.out_spaces = [graph.spaces[k] for k in node.outputs]
        self.dims = graph.dims.get(node.name, {})
        self.fallback = weights
        self.use_profile = call_cost.has_cost_function(node.layer)
        self.full = self._compute(_KeptCounts(None))

    def macs(self, counts):
        if counts.keep is None:
            return self.full
        spaces = self.in_spaces + self.out_spaces + list(self.dims.values())
        if all(counts(s) == len(s) for s in spaces):
            return self.full
        return self._compute(counts)

    def _compute(self, counts):
        if not self.use_profile:
            return sum(
                _kept_size(full, axes, counts.keep) * positions
                for full, axes, positions in self.fallback
            )
        ins = [
            _with_channels(s, sp, counts)
            for s, sp in zip(self.in_shapes, self.in_spaces)
        ]
        outs = [
            _with_channels(s, sp, counts)
            for s, sp in zip(self.out_shapes, self.out_spaces)
        ]
        dims = None
        if self.dims and counts.keep is not None:
            dims = {n: counts(s) for n, s in self.dims.items()}
        try:
            macs, _ = call_cost.call_cost(
                self.layer, ins, outs, self.name, dims=dims
            )
        except Exception:  # noqa: BLE001 - profile reports it; count 0
            return 0
        return macs


def _known(shape):
    """The shape at batch size 1, unknown sizes counted as 1."""
    shape = tuple(1 if d is None else int(d) for d in shape)
    return (1,) + shape[1:] if shape else shape


def _with_channels(shape, space, counts):
    if counts.keep is None or len(shape) < 2:
        return shape
    return shape[:-1] + (counts(space),)


class _KeptCounts:
    """Kept channels per channel space, counted once per space."""

    def __init__(self, keep):
        self.keep = keep
        self._memo = {}

    def __call__(self, space):
        if self.keep is None:
            return len(space)
        found = self._memo.get(id(space))
        if found is None:
            found = int(np.count_nonzero(self.keep[space]))
            self._memo[id(space)] = found
        return found


class _CostTable:
    def __init__(self, weights, calls):
        self.weights = weights
        self.calls = calls


def cost_table(graph):
    """The weights and layer calls of `graph`, for `cost_from_keep`.

    Cached on the graph. `weights` holds rows `(layer, size, [(dim,
    space)])`, one per weight: its size after slimming is its full size
    with every bound dimension `dim` replaced by the kept count of its
    space. `calls` holds one row per layer call whose `macs(keep)` gives
    its multiply-accumulates, from the profiler's cost model.
    """
    table = getattr(graph, "_cost_table", None)
    if table is not None:
        return table
    binds = bindings_by_layer(graph)
    weights, calls = [], []
    seen = set()
    for node in graph.flat.nodes:
        positions = dict(graph.macs.get(node.name, ()))
        fallback = []
        variables = getattr(node.layer, "weights", ())
        for var, key in zip(variables, weight_keys(node.layer)):
            if id(var) in seen:
                continue
            seen.add(id(var))
            axes = [
                (var.shape[b.axis], b.space)
                for b in binds.get(node.name, ())
                if b.weight == key
            ]
            size = math.prod(var.shape)
            weights.append((node.name, size, axes))
            if positions.get(key):
                fallback.append((size, axes, positions[key]))
        row = _CallRow(node, graph, fallback)
        # MACs are products of sizes: none at full width, none when slim.
        if row.full:
            calls.append(row)
    table = _CostTable(weights, calls)
    graph._cost_table = table
    return table


def layers_by_group(graph):
    """`{group name: frozenset of layer names}`: the layers whose weights
    or MACs a change of the group's width changes (cached on the graph).

    `cost_from_keep(graph, keep, layers)` over these layers, before and
    after a change of one group, gives the change of the whole model's
    cost.
    """
    cached = getattr(graph, "_layers_by_group", None)
    if cached is not None:
        return cached
    table = cost_table(graph)
    rows = [(layer, [s for _, s in axes]) for layer, _, axes in table.weights]
    for row in table.calls:
        spaces = row.in_spaces + row.out_spaces + list(row.dims.values())
        spaces += [s for _, axes, _ in row.fallback for _, s in axes]
        rows.append((row.name, spaces))
    touched = {g.name: set() for g in graph.groups}
    for layer, spaces in rows:
        if not spaces:
            continue
        owners = graph.element_group[np.concatenate(spaces)]
        for index in np.unique(owners[owners >= 0]):
            touched[graph.groups[index].name].add(layer)
    graph._layers_by_group = {k: frozenset(v) for k, v in touched.items()}
    return graph._layers_by_group
