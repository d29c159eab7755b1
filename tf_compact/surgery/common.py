"""Helpers shared by `slim`, `apply_masks` and the cost estimate."""

import keras

from tf_compact.graph.channel_graph import ChannelGraph


def resolve_graph(model, graph):
    """Returns `graph`, or a new `ChannelGraph(model)` when it is `None`.

    Raises:
        TypeError: If `model` is not a Keras model.
        ValueError: If `graph` was built for another model.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Invalid value for argument `model`. Expected a keras.Model. "
            f"Received: model={model!r}"
        )
    if graph is None:
        return ChannelGraph(model)
    if not isinstance(graph, ChannelGraph):
        raise TypeError(
            "Invalid value for argument `graph`. Expected a ChannelGraph or "
            f"None. Received: graph={graph!r}"
        )
    if graph.model is not model:
        raise ValueError(
            "Invalid value for argument `graph`: it was built for model "
            f"'{graph.model.name}', not for '{model.name}'."
        )
    return graph


def bindings_by_layer(graph):
    """Groups the graph's weight bindings by layer name."""
    out = {}
    for b in graph.bindings:
        out.setdefault(b.node_name, []).append(b)
    return out
