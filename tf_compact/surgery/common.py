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
        raise ValueError(_other_model_message(graph.model, model))
    return graph


def _other_model_message(built_for, model):
    other = f"model '{built_for.name}'"
    if built_for.name == model.name:
        other += (
            ", another model object with the same name (a copy or a "
            "rebuild of a model is not the model itself)"
        )
    return (
        "Invalid value for argument `graph`. Expected the ChannelGraph of "
        f"`model` ('{model.name}'), built by `tfc.ChannelGraph(model)`. "
        f"Received: a graph built for {other}."
    )


def bindings_by_layer(graph):
    """Groups the graph's weight bindings by layer name."""
    out = {}
    for b in graph.bindings:
        out.setdefault(b.node_name, []).append(b)
    return out


def copy_lora_alpha(old, new):
    """Gives a rebuilt LoRA layer the LoRA scale of the original.

    A rebuilt Dense layer re-enables LoRA with `lora_alpha = rank`, losing
    a different `lora_alpha` given to `enable_lora`; the scale
    `lora_alpha / rank` multiplies the low-rank update, so it is copied.
    """
    if getattr(old, "lora_enabled", False) and getattr(
        new, "lora_enabled", False
    ):
        new.lora_alpha = old.lora_alpha
