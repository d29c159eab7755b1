"""Flattens Sequential and Functional models into one list of layer calls.

Nested models (a `keras.applications` backbone inside a bigger model, a
Sequential inside a Functional) are opened up: their layer calls are listed
in place, and their input and output tensors are aliased to the tensors of
the enclosing call. Every tensor gets an integer key; two Keras tensors that
are the same value (a nested model's input and the tensor it was called on)
share a key.
"""

import dataclasses

import keras

from tf_compact.graph.errors import GraphError
from tf_compact.internal import keras_compat


@dataclasses.dataclass
class FlatNode:
    """One call of one layer (or operation) in the flattened graph.

    Attributes:
        layer: The Keras layer or operation that is called.
        node: The Keras `Node` of this call (holds the call arguments).
        name: The layer name, unique in the flattened graph.
        inputs: Keys of the input tensors, in the order of the layer's
            `call` parameters (positional arguments first).
        outputs: Keys of the output tensors, in `node.outputs` order.
        input_shapes: Shapes of the input tensors.
        output_shapes: Shapes of the output tensors.
        input_names: The `call` parameter each input tensor was passed as,
            in `inputs` order (`None` where it cannot be told).
    """

    layer: object
    node: object
    name: str
    inputs: list
    outputs: list
    input_shapes: list
    output_shapes: list
    input_names: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class FlatGraph:
    """A model's layer calls in topological order, nested models opened.

    Attributes:
        nodes: The `FlatNode`s in an order where producers come first.
        input_keys: Keys of the model's input tensors.
        output_keys: Keys of the model's output tensors.
        input_tensors: The model's input Keras tensors.
        keys: Maps `id(keras_tensor)` to the tensor's key.
    """

    nodes: list
    input_keys: list
    output_keys: list
    input_tensors: list
    keys: dict


def functional_of(model):
    """Returns the Functional graph behind `model`, or raises `GraphError`."""
    functional = keras_compat.functional_graph(model)
    if functional is not None:
        return functional
    if isinstance(model, keras_compat.Sequential):
        raise GraphError(
            f"The Sequential model '{model.name}' has no known input "
            "shape, so its layer graph does not exist yet. Start it with "
            "`keras.Input(shape=...)` or call `model.build(input_shape)`."
        )
    raise GraphError(
        f"The model '{model.name}' ({type(model).__name__}) is a subclassed "
        "model: its `call()` is Python code, so its channel couplings "
        "cannot be read. Rebuild it with the Functional API "
        "(`keras.Model(inputs, outputs)`) or as a `keras.Sequential`, for "
        "example by calling its layers on `keras.Input` tensors."
    )


def is_nested_model(layer):
    """Whether `layer` is a model whose layers are opened up in the graph."""
    return isinstance(layer, keras.Model)


def flatten_model(model):
    """Lists the layer calls of `model` in topological order.

    Args:
        model: A built Sequential or Functional `keras.Model`.

    Returns:
        A `FlatGraph`.

    Raises:
        GraphError: If `model` (or a nested model) is subclassed, or a
            layer is called more than once.
    """
    functional = functional_of(model)
    keys = {}
    nodes = []
    inputs = list(functional.inputs)
    for t in inputs:
        keys[id(t)] = id(t)
    _walk(functional, keys, nodes, prefix="")
    _check_not_shared(nodes)
    _make_names_unique(nodes)
    return FlatGraph(
        nodes=nodes,
        input_keys=[keys[id(t)] for t in inputs],
        output_keys=[keys[id(t)] for t in functional.outputs],
        input_tensors=inputs,
        keys=keys,
    )


def _ordered_nodes(functional):
    for node in keras_compat.ordered_nodes(functional):
        if node.operation is not None and not node.is_input:
            yield node


def _walk(functional, keys, nodes, prefix):
    for node in _ordered_nodes(functional):
        layer = node.operation
        in_tensors = list(node.input_tensors)
        names = [None] * len(in_tensors)
        if not is_nested_model(layer):
            order = keras_compat.call_order(layer, node)
            in_tensors = [in_tensors[i] for i in order]
            found = keras_compat.call_parameter_names(layer, node)
            names = [found[i] for i in order]
        for t in in_tensors:
            if id(t) not in keys:
                raise GraphError(
                    f"The input of layer '{layer.name}' is not connected to "
                    "the model inputs."
                )
        if is_nested_model(layer):
            inner = functional_of(layer)
            for t_in, t_out in zip(inner.inputs, in_tensors):
                keys[id(t_in)] = keys[id(t_out)]
            _walk(inner, keys, nodes, prefix=prefix + layer.name + "_")
            for t_out, t_in in zip(node.outputs, inner.outputs):
                keys[id(t_out)] = keys[id(t_in)]
            continue
        for t in node.outputs:
            keys[id(t)] = id(t)
        nodes.append(
            FlatNode(
                layer=layer,
                node=node,
                name=prefix + layer.name,
                inputs=[keys[id(t)] for t in in_tensors],
                outputs=[keys[id(t)] for t in node.outputs],
                input_shapes=[tuple(t.shape) for t in in_tensors],
                output_shapes=[tuple(t.shape) for t in node.outputs],
                input_names=names,
            )
        )


def _check_not_shared(nodes):
    seen = {}
    for n in nodes:
        if id(n.layer) in seen:
            raise GraphError(
                f"Layer '{n.layer.name}' ({type(n.layer).__name__}) is "
                "called more than once in the model. The channels of a "
                "shared layer would have to be pruned the same way for every "
                "call, which is not supported: give each call its own layer."
            )
        seen[id(n.layer)] = n


def _make_names_unique(nodes):
    """A layer whose name appears once keeps it; one whose name a nested
    model repeats is named `<model>_<layer>`, with `_1`, `_2`, ... added
    where that name is another layer's."""
    counts = {}
    for n in nodes:
        counts[n.layer.name] = counts.get(n.layer.name, 0) + 1
    taken = set()
    for n in nodes:
        if counts[n.layer.name] == 1:
            n.name = n.layer.name
            taken.add(n.name)
    for n in nodes:
        if counts[n.layer.name] == 1:
            continue
        name, suffix = n.name, 0
        while name in taken:
            suffix += 1
            name = f"{n.name}_{suffix}"
        n.name = name
        taken.add(name)
