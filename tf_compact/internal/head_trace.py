"""Walks back from an output tensor to the head that produced it.

`trace(tensor)` returns the head's kind and the tensor before it (the
logits), looking through identity-like layers, nested models and
`Reshape`/`Flatten`, as `tf_compact.internal.heads` documents.
"""

import keras

from tf_compact.internal.head_ops import NONE
from tf_compact.internal.head_ops import SIGMOID
from tf_compact.internal.head_ops import SOFTMAX
from tf_compact.internal.head_ops import LogProbabilities
from tf_compact.internal.head_ops import PreActivation

_SOFTMAX_NAMES = ("softmax", "softmax_v2")
_SIGMOID_NAMES = ("sigmoid",)
_LINEAR_NAMES = ("linear",)


def _function_kind(fn):
    name = getattr(fn, "__name__", None)
    if name is None and isinstance(fn, str):
        name = fn
    if name in _SOFTMAX_NAMES:
        return SOFTMAX
    if name in _SIGMOID_NAMES:
        return SIGMOID
    if name in _LINEAR_NAMES:
        return "linear"
    return None


def _last_axis(axis, rank):
    return axis is None or axis == -1 or (rank is not None and axis == rank - 1)


def producer(tensor):
    """Returns `(operation, input_tensors, tensor_index)` or `None`."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    op = history.operation
    nodes = getattr(op, "_inbound_nodes", None)
    if op is None or not nodes or history.node_index >= len(nodes):
        return None
    inputs = list(nodes[history.node_index].input_tensors)
    return op, inputs, history.tensor_index


def same_tensor(a, b):
    """Whether two symbolic tensors are the same node output of a graph."""
    if a is b:
        return True
    ha = getattr(a, "_keras_history", None)
    hb = getattr(b, "_keras_history", None)
    return ha is not None and hb is not None and tuple(ha) == tuple(hb)


def is_functional(model):
    """Returns True when `model` has a symbolic graph to walk."""
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def model_input(model):
    """Returns the symbolic input structure of a Functional model.

    A single input is returned as its tensor in the graph that
    `model.outputs` belong to (for a Sequential model, `model.input` may be
    another tensor than `model.inputs[0]`).
    """
    inputs = list(model.inputs)
    if len(inputs) == 1:
        return inputs[0]
    try:
        return model.input
    except (AttributeError, ValueError):
        return inputs


class Head:
    """What `_trace` found: the head's kind and the tensor before it."""

    def __init__(self, kind, logits):
        self.kind = kind
        self.logits = logits


def layer_kind(op, rank):
    """The kind of activation `op` applies last, `"linear"`, or None."""
    if isinstance(op, keras.layers.Softmax):
        return SOFTMAX if _last_axis(op.axis, rank) else None
    if isinstance(op, keras.layers.Identity):
        return "linear"
    if isinstance(op, keras.layers.Lambda):
        return _function_kind(getattr(op, "function", None))
    if isinstance(op, keras.layers.Layer):
        return _function_kind(getattr(op, "activation", None))
    cls = type(op).__name__
    if cls == "Softmax" and _last_axis(getattr(op, "axis", -1), rank):
        return SOFTMAX
    if cls == "Sigmoid":
        return SIGMOID
    return None


def _reads_input(op):
    """Whether `op` is applied to its input as is (no weights of its own)."""
    passes = (
        keras.layers.Activation,
        keras.layers.Softmax,
        keras.layers.Identity,
        keras.layers.Lambda,
    )
    return isinstance(op, passes) or not isinstance(op, keras.layers.Layer)


# Layers without weights that move values around without changing them: a
# head before them is reached, and they are rebuilt on its logits.
_RESHAPES = (keras.layers.Reshape, keras.layers.Flatten)


def trace(tensor, depth=0):
    found = producer(tensor)
    if found is None or depth > 64:
        return Head(NONE, tensor)
    op, inputs, index = found
    if isinstance(op, keras.Model) and is_functional(op):
        inner = trace(op.outputs[index], depth + 1)
        if inner.kind == NONE:
            return Head(NONE, tensor)
        view = keras.Model(
            model_input(op), inner.logits, name=f"{op.name}_logits"
        )
        args = inputs[0] if len(inputs) == 1 else inputs
        return Head(inner.kind, view(args))
    if isinstance(op, _RESHAPES) and len(inputs) == 1:
        inner = trace(inputs[0], depth + 1)
        if inner.kind == NONE:
            return Head(NONE, tensor)
        config = dict(op.get_config(), name=f"{op.name}_logits")
        return Head(inner.kind, type(op).from_config(config)(inner.logits))
    kind = layer_kind(op, len(tensor.shape))
    if kind is None:
        return Head(NONE, tensor)
    if kind == "linear":
        if len(inputs) == 1 and _reads_input(op):
            return trace(inputs[0], depth + 1)
        return Head(NONE, tensor)
    if len(inputs) != 1:
        return Head(kind, LogProbabilities(kind)(tensor))
    if _reads_input(op):
        return Head(kind, inputs[0])
    return Head(kind, PreActivation(op)(inputs[0]))
