"""Probe models: the layers one channel group touches, cut to one width.

A latency table (`tf_compact.pruning.latency`) times these probes on the
interpreter; `export_probes` writes them as `.tflite` files to time on
another device.
"""

import os

import keras
import numpy as np

from tf_compact.internal import interpreter
from tf_compact.pruning.latency_table import MODEL_ROW
from tf_compact.pruning.selection import keep_count
from tf_compact.pruning.validation import fixed_size_example
from tf_compact.pruning.validation import free_input_shape
from tf_compact.surgery.common import resolve_graph
from tf_compact.surgery.slim import new_layer

#: Widths timed per group, from the narrowest allowed to the full width.
POINTS = 8


def probe_widths(size, points=POINTS, min_channels=1, round_to=None):
    """The widths timed for a group of `size` channels (sorted)."""
    widths = {
        keep_count(size, round(size * j / (points - 1)), min_channels, round_to)
        for j in range(points)
    }
    return sorted(widths | {size})


def probe_model(graph, name, width):
    """The layers group `name` touches, the group cut to `width`, batch 1.

    Every other channel space keeps its full width. Tensors entering the
    touched layers from elsewhere become inputs `probe_in0`, ...; outputs
    no touched layer reads become outputs. Weights are freshly
    initialized (values do not change float32 timings).
    """
    group = graph.group(name)
    index = graph.groups.index(group)
    keep = graph.keep_elements(_spread_mask(graph, name, width))
    nodes = [
        node
        for node in graph.flat.nodes
        if any(
            (graph.element_group[space] == index).any()
            for space in _node_spaces(graph, node)
        )
    ]
    consumed = {k for node in nodes for k in node.inputs}
    built, inputs = {}, []
    for node in nodes:
        lookup = {}
        for t in node.node.input_tensors:
            key = graph.flat.keys[id(t)]
            if key not in built:
                count = int(np.count_nonzero(keep[graph.spaces[key]]))
                shape = tuple(1 if d is None else int(d) for d in t.shape)
                x = keras.Input(
                    batch_shape=(1,) + shape[1:-1] + (count,),
                    dtype=t.dtype,
                    name=f"probe_in{len(inputs)}",
                )
                built[key] = x
                inputs.append(x)
            lookup[id(t)] = built[key]
        in_keep = [keep[graph.spaces[k]] for k in node.inputs]
        out_keep = [keep[graph.spaces[k]] for k in node.outputs]
        dims = {n: keep[sp] for n, sp in graph.dims.get(node.name, {}).items()}
        layer = new_layer(node, in_keep, out_keep, dims, node.name)
        args, kwargs = node.node.arguments.fill_in(lookup)
        outs = keras.tree.flatten(layer(*args, **kwargs))
        for key, out in zip(node.outputs, outs):
            built[key] = out
    outputs = [
        built[k] for node in nodes for k in node.outputs if k not in consumed
    ]
    return keras.Model(inputs, outputs, name="probe")


def export_probes(model, directory, points=POINTS, round_to=None, graph=None):
    """Writes every probe as `.tflite` for timing on another device.

    Files are named `<group>@<width>.tflite`, plus `model.tflite` for the
    whole model; time each with `benchmark_model` and write the averages
    in the format of `LatencyTable.from_benchmark_model`.

    Args:
        model: A Sequential or Functional `keras.Model`.
        directory: Folder to write to (created).
        points: Widths per group. Defaults to `POINTS`.
        round_to: Widths are multiples of this. Defaults to `None`.
        graph: Its `ChannelGraph`. Defaults to `None`.

    Returns:
        The list of paths written.

    Example:

    ```python
    export_probes(model, "probes/", round_to=8)
    ```
    """
    graph = resolve_graph(model, graph)
    os.makedirs(directory, exist_ok=True)
    written = []

    def write(keras_model, stem):
        path = os.path.join(directory, stem + ".tflite")
        with open(path, "wb") as f:
            f.write(interpreter.to_tflite(keras_model))
        written.append(path)

    write(batch_one(model), MODEL_ROW)
    for group in graph.groups:
        for width in probe_widths(group.size, points, 1, round_to):
            probe = probe_model(graph, group.name, width)
            write(probe, f"{group.name}@{width}")
    return written


def _spread_mask(graph, name, width):
    """A mask of `width` channels spread over the group's producers."""
    size = graph.group(name).size
    if width >= size:
        return {}
    mask = np.zeros(size, dtype=bool)
    mask[np.round(np.linspace(0, size - 1, max(int(width), 1))).astype(int)] = (
        True
    )
    for _, channels in graph.segments.get(name, ()):
        if not mask[channels].any():
            mask[channels[0]] = True
    return {name: mask}


def _node_spaces(graph, node):
    """The channel spaces of a call: its tensors' and its inner sizes'."""
    keys = list(node.inputs) + list(node.outputs)
    inner = graph.dims.get(node.name, {}).values()
    return [graph.spaces[k] for k in keys] + list(inner)


def batch_one(model):
    """`model`, checked; a free batch size converts to batch 1.

    Raises:
        TypeError: if `model` is not a `keras.Model`.
        ValueError: if an input of `model` takes any size besides the batch
            (`keras.Input((None, None, 3))`): TFLite would time it at a
            placeholder size of 1 pixel, which says nothing of its latency.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Invalid value for argument `model`. Expected a keras.Model. "
            f"Received: model={model!r}"
        )
    shape = free_input_shape(model)
    if shape is not None:
        raise ValueError(
            "Invalid value for argument `model`. Expected a model with a "
            "fixed input size: its latency depends on that size, and a "
            "model whose input takes any size can only be timed at a "
            "placeholder size. Rebuild it on the size it will run at (e.g. "
            f"{fixed_size_example(shape)}, weights copied with "
            f"`set_weights`). Received: model '{model.name}' with input "
            f"shape {shape}"
        )
    return model
