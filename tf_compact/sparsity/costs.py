"""Per-layer analytic costs of the model that slimming would give.

The same count as `tfc.estimate_slim_cost` (one MAC per kernel entry and
output position; parameters count every weight), kept per layer so that
block budgets can be measured. The table is computed once per graph.
"""

import math

import numpy as np


def layer_cost_table(graph):
    """Returns rows `(layer, size, [(dim, space)], positions)`, one per weight.

    A row's size after slimming is `size` with every bound dimension `dim`
    replaced by the number of kept elements of its channel `space`.

    Args:
        graph: A `tfc.ChannelGraph`.

    Returns:
        A list of tuples, cached on the graph.
    """
    table = getattr(graph, "_sparsity_cost_table", None)
    if table is not None:
        return table
    binds = {}
    for b in graph.bindings:
        binds.setdefault(b.node_name, []).append(b)
    table = []
    seen = set()
    for node in graph.flat.nodes:
        positions = dict(graph.macs.get(node.name, ()))
        for var in getattr(node.layer, "weights", ()):
            if id(var) in seen:
                continue
            seen.add(id(var))
            axes = [
                (int(var.shape[b.axis]), b.space)
                for b in binds.get(node.name, ())
                if b.weight == var.name
            ]
            size = math.prod(var.shape)
            table.append((node.name, size, axes, positions.get(var.name, 0)))
    graph._sparsity_cost_table = table
    return table


def total_cost(table, keep=None, layers=None):
    """Returns `(macs, params)` of the rows of `layers` (all when `None`).

    Args:
        table: Output of `layer_cost_table`.
        keep: Keep flag per channel element (`graph.keep_elements(masks)`),
            or `None` for the dense model. Defaults to `None`.
        layers: Optional collection of layer names. Defaults to `None`.

    Returns:
        A tuple `(macs, params)` of ints.
    """
    wanted = None if layers is None else set(layers)
    macs = params = 0
    for layer, full, axes, positions in table:
        if wanted is not None and layer not in wanted:
            continue
        size = full
        if keep is not None:
            for dim, space in axes:
                size = size // dim * int(np.count_nonzero(keep[space]))
        params += size
        macs += size * positions
    return int(macs), int(params)
