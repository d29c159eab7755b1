"""Flattens a Keras model into the list of layer calls it makes.

Nothing is executed: shapes come from the `KerasTensor`s that Keras stored
on the nodes of Functional and Sequential models. Nested models are walked
recursively and every call of a layer is a separate entry. When the shapes
stored inside a nested model differ from the shapes it is called with (a
sub-model built with `None` spatial dimensions, say), they are recomputed
with `compute_output_spec`, which is symbolic and creates no nodes.

Every tensor gets a key unique within the flattened graph; the inputs and
outputs of a nested model are aliased to the keys of the outer tensors, so
that liveness (peak memory) can be followed across model boundaries.
"""

import dataclasses

import keras

from tf_compact.internal import keras_compat
from tf_compact.profile.registry import get_macs_fn

_InputLayer = keras.layers.InputLayer


@dataclasses.dataclass
class TensorSpec:
    """Shape (batch dimension resolved where possible) and dtype."""

    shape: tuple
    dtype: str


@dataclasses.dataclass
class LayerCall:
    """One call of a layer (or Keras operation) in the flattened graph."""

    layer: object
    path: str
    call_index: int
    inputs: list
    outputs: list
    input_keys: list
    output_keys: list
    is_row: bool = True


@dataclasses.dataclass
class Trace:
    """The result of a walk: calls in execution order and graph ends."""

    calls: list
    input_keys: list
    input_specs: list
    output_keys: list
    notes: list


def is_composite(op):
    """A subclassed model, or a layer with sublayers, without cost function."""
    if not isinstance(op, keras.layers.Layer) or get_macs_fn(type(op)):
        return False
    if isinstance(op, keras.Model):
        return True
    return any(True for _ in op._flatten_layers(include_self=False))


def _in_call_order(op, node):
    """The node's input tensors in the order of `op.call`'s parameters."""
    tensors = list(node.input_tensors)
    if isinstance(op, keras.Model):
        return tensors
    return [tensors[i] for i in keras_compat.call_order(op, node)]


def _flat(structure):
    return keras.tree.flatten(structure)


def _resolve(shape, batch_size):
    shape = tuple(None if d is None else int(d) for d in shape)
    if shape and shape[0] is None:
        shape = (batch_size,) + shape[1:]
    return shape


def propagate_shapes(functional, input_specs):
    """Recomputes every tensor's spec for new input specs, symbolically.

    Returns:
        Dict from `id(stored tensor)` to `TensorSpec`.
    """
    refs = _flat(functional.inputs)
    values = {
        id(ref): keras.KerasTensor(spec.shape, dtype=spec.dtype)
        for ref, spec in zip(refs, input_specs)
    }
    for node in keras_compat.ordered_nodes(functional):
        if node.is_input:
            continue
        if any(id(t) not in values for t in node.input_tensors):
            continue
        args, kwargs = node.arguments.fill_in(values)
        result = node.operation.compute_output_spec(*args, **kwargs)
        for ref, new in zip(node.outputs, _flat(result)):
            values[id(ref)] = new
    return {
        key: TensorSpec(tuple(v.shape), str(v.dtype))
        for key, v in values.items()
    }


class _Walker:
    def __init__(self, batch_size):
        self.batch_size = batch_size
        self.calls = []
        self.notes = []
        self._call_counts = {}
        self._scopes = 0

    def spec(self, tensor, shapes):
        if shapes is not None and id(tensor) in shapes:
            found = shapes[id(tensor)]
            shape = _resolve(found.shape, self.batch_size)
            return TensorSpec(shape, found.dtype)
        return TensorSpec(
            _resolve(tensor.shape, self.batch_size), str(tensor.dtype)
        )

    def next_call_index(self, op):
        index = self._call_counts.get(id(op), 0)
        self._call_counts[id(op)] = index + 1
        return index

    def new_scope(self):
        self._scopes += 1
        return self._scopes

    def walk(self, functional, prefix, alias, shapes):
        scope = self.new_scope()

        def key(tensor):
            return alias.get(id(tensor), (scope, id(tensor)))

        for node in keras_compat.ordered_nodes(functional):
            op = node.operation
            if node.is_input or isinstance(op, _InputLayer):
                continue
            in_tensors = _in_call_order(op, node)
            inputs = [self.spec(t, shapes) for t in in_tensors]
            outputs = [self.spec(t, shapes) for t in node.outputs]
            in_keys = [key(t) for t in in_tensors]
            out_keys = [key(t) for t in node.outputs]
            index = self.next_call_index(op)
            name = op.name if index == 0 else f"{op.name}:{index}"
            inner = keras_compat.functional_graph(op)
            if inner is not None:
                self.walk_nested(
                    inner, prefix + name + "/", inputs, in_keys, out_keys
                )
                continue
            call = LayerCall(
                op, prefix + name, index, inputs, outputs, in_keys, out_keys
            )
            if is_composite(op):
                # Costed from its sublayers; the call itself is kept only
                # to follow its input and output tensors for memory.
                self.walk_without_graph(op, prefix + name + "/")
                call.is_row = False
            self.calls.append(call)
        return scope

    def walk_without_graph(self, layer, prefix):
        """Costs a layer without a graph; `subclassed.Walker` does it."""
        raise NotImplementedError(
            f"Layer '{prefix.rstrip('/')}' has no stored graph; it needs "
            "the walker of `tf_compact.profile.subclassed`."
        )

    def walk_nested(self, inner, prefix, in_specs, in_keys, out_keys):
        refs_in = _flat(inner.inputs)
        refs_out = _flat(inner.outputs)
        alias = {id(t): k for t, k in zip(refs_in, in_keys)}
        alias.update({id(t): k for t, k in zip(refs_out, out_keys)})
        stored = [self.spec(t, None) for t in refs_in]
        shapes = None
        if len(stored) == len(in_specs) and stored != in_specs:
            shapes = self.try_propagate(inner, in_specs, prefix)
        self.walk(inner, prefix, alias, shapes)

    def try_propagate(self, functional, in_specs, where):
        try:
            return propagate_shapes(functional, in_specs)
        except Exception as e:  # noqa: BLE001 - any failure: keep stored
            self.notes.append(
                f"Could not recompute shapes inside '{where.rstrip('/')}' "
                f"for inputs {[s.shape for s in in_specs]} "
                f"({type(e).__name__}: {e}); using the stored shapes."
            )
            return None


def trace_functional(model, batch_size, input_specs=None, walker_cls=None):
    """Walks a Functional or Sequential model.

    Args:
        model: A built Functional or Sequential model.
        batch_size: Value substituted for an unknown batch dimension.
        input_specs: Optional list of `TensorSpec` for the model inputs
            (batch dimension included) replacing the stored input shapes.
        walker_cls: Walker class; `subclassed.Walker` also handles nested
            subclassed models. Defaults to the graph-only walker.

    Returns:
        A `Trace`.
    """
    functional = keras_compat.functional_graph(model)
    walker = (walker_cls or _Walker)(batch_size)
    refs_in = _flat(functional.inputs)
    shapes = None
    if input_specs is not None:
        shapes = walker.try_propagate(functional, input_specs, model.name)
    scope = walker.walk(functional, "", {}, shapes)
    specs = [walker.spec(t, shapes) for t in refs_in]
    return Trace(
        calls=walker.calls,
        input_keys=[(scope, id(t)) for t in refs_in],
        input_specs=specs,
        output_keys=[(scope, id(t)) for t in _flat(functional.outputs)],
        notes=walker.notes,
    )
