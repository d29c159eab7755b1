"""Best-effort trace of a subclassed model, which has no stored graph.

A subclassed model's `call` is arbitrary Python, so the profiler cannot know
how often each layer runs or in which order. It uses what Keras recorded when
each layer was built (the input shape of its first call, with the batch
dimension replaced by the profiled batch size), counts every layer exactly
once, and derives output shapes with `compute_output_shape`. Layers that
recorded no build shape (those without weights, typically) count 0. Nested
Functional or Sequential sub-models are walked as graphs.
"""

import keras

from tf_compact.internal import keras_compat
from tf_compact.profile import graph_walk
from tf_compact.profile.registry import get_macs_fn


def _is_shape(value):
    return isinstance(value, tuple | list) and all(
        d is None or isinstance(d, int) for d in value
    )


def _as_shape_list(value):
    if _is_shape(value):
        return [tuple(value)]
    if isinstance(value, tuple | list):
        shapes = []
        for item in value:
            shapes.extend(_as_shape_list(item))
        return shapes
    if isinstance(value, dict):
        return _as_shape_list(list(value.values()))
    return []


def _output_shapes(layer, build_values):
    try:
        if len(build_values) == 1:
            result = layer.compute_output_shape(build_values[0])
        else:
            result = layer.compute_output_shape(*build_values)
    except Exception:  # noqa: BLE001 - unknown output shape is reported
        return None
    return _as_shape_list(result)


class Walker(graph_walk._Walker):
    """Graph walker that also profiles subclassed models, best effort."""

    def walk_without_graph(self, layer, prefix):
        kind = "model" if isinstance(layer, keras.Model) else "layer"
        self.notes.append(
            f"Subclassed {kind} '{prefix.rstrip('/')}' "
            f"({type(layer).__name__}) has no stored graph: its sublayers are "
            "counted once each at the shapes they were built with, and "
            "operations written in its `call()` are not counted."
        )
        self.visit(layer, prefix)

    def add_layer(self, layer, prefix):
        build = getattr(layer, "_build_shapes_dict", None)
        if not layer.built or not build:
            self.notes.append(
                f"Layer '{prefix}{layer.name}' has no recorded build shape; "
                "it is profiled without shapes."
            )
            build = {}
        values = list(build.values())
        in_shapes = _as_shape_list(values) if values else []
        out_shapes = _output_shapes(layer, values) if values else None
        if out_shapes is None:
            out_shapes = []
        dtype = str(getattr(layer, "compute_dtype", "float32"))
        scope = self.new_scope()
        index = self.next_call_index(layer)
        name = layer.name if index == 0 else f"{layer.name}:{index}"
        self.calls.append(
            graph_walk.LayerCall(
                layer=layer,
                path=prefix + name,
                call_index=index,
                inputs=[self.tensor(s, dtype) for s in in_shapes],
                outputs=[self.tensor(s, dtype) for s in out_shapes],
                # Inputs are outputs of earlier calls or of the enclosing
                # graph; only the outputs are new tensors for memory.
                input_keys=[],
                output_keys=[(scope, "out", i) for i in range(len(out_shapes))],
            )
        )

    def tensor(self, shape, dtype):
        # The recorded shape has the batch of the first call: replace it.
        shape = tuple(shape)
        if shape:
            shape = (None,) + shape[1:]
        return graph_walk.TensorSpec(
            graph_walk._resolve(shape, self.batch_size), dtype
        )

    def visit(self, layer, prefix):
        for sub in layer._flatten_layers(include_self=False, recursive=False):
            inner = keras_compat.functional_graph(sub)
            if inner is not None and sub.built:
                self.walk(inner, prefix + sub.name + "/", {}, None)
                continue
            children = list(
                sub._flatten_layers(include_self=False, recursive=False)
            )
            if children and get_macs_fn(type(sub)) is None:
                self.visit(sub, prefix + sub.name + "/")
            else:
                self.add_layer(sub, prefix)


def trace_subclassed(model, batch_size):
    """Walks the layers of a built subclassed model, once each.

    Args:
        model: A built subclassed `keras.Model`.
        batch_size: Value substituted for an unknown batch dimension.

    Returns:
        A `graph_walk.Trace` without model inputs or outputs.
    """
    walker = Walker(batch_size)
    walker.visit(model, "")
    return graph_walk.Trace(
        calls=walker.calls,
        input_keys=[],
        input_specs=[],
        output_keys=[],
        notes=walker.notes,
    )
