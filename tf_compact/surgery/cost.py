"""Analytic MACs and parameter counts of the model `slim` would build."""

import math

import numpy as np

from tf_compact.surgery.common import bindings_by_layer
from tf_compact.surgery.common import resolve_graph


def estimate_slim_cost(model, masks=None, graph=None):
    """MACs and parameters of `slim(model, masks)`, without building it.

    Computed from the kept-channel counts of every weight axis bound to a
    channel group, so it costs a few milliseconds and can run every epoch.
    Parameters count every weight (trainable or not), like
    `model.count_params()`. MACs count the multiply-accumulates of the
    convolution, depthwise, separable, transposed-convolution and Dense
    layers (one per kernel entry and output position, batch of one);
    element-wise layers (norms, activations, merges, pooling) are not
    counted. Unknown spatial sizes count as 1. These are the conventions
    of `tf_compact.profile` at `batch_size=1`, so
    `estimate_slim_cost(model, masks)` equals
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
    macs = params = 0
    for layer, full, axes, positions in cost_table(graph):
        if wanted is not None and layer not in wanted:
            continue
        size = full
        if keep is not None:
            for dim, space in axes:
                size = size // dim * int(np.count_nonzero(keep[space]))
        params += size
        macs += size * positions
    return int(macs), int(params)


def cost_table(graph):
    """Rows `(layer, size, [(dim, space)], mac positions)`, one per weight.

    Cached on the graph. A row's size after slimming is its full size with
    every bound dimension `dim` replaced by the kept count of its space.
    """
    table = getattr(graph, "_cost_table", None)
    if table is not None:
        return table
    binds = bindings_by_layer(graph)
    table = []
    seen = set()
    for node in graph.flat.nodes:
        positions = dict(graph.macs.get(node.name, ()))
        for var in getattr(node.layer, "weights", ()):
            if id(var) in seen:
                continue
            seen.add(id(var))
            axes = [
                (var.shape[b.axis], b.space)
                for b in binds.get(node.name, ())
                if b.weight == var.name
            ]
            size = math.prod(var.shape)
            table.append((node.name, size, axes, positions.get(var.name, 0)))
    graph._cost_table = table
    return table
