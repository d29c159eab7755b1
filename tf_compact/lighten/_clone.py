"""Cloning with layer substitution, shared by the lighten transforms.

Every transform follows the same recipe: clone the model with
`keras.models.clone_model` (recursively, so nested Sequential and Functional
models are handled), let a `replace(layer)` callback return a different
layer for some layers, then copy the weights of every layer that kept its
class and weight shapes, and let the transform initialise the layers it
replaced. The input model is never touched: its layers are only read.
"""

import keras
import numpy as np

from tf_compact.internal import keras_compat


def validate_model(model, argument="model"):
    """Checks that `model` is a Sequential or Functional `keras.Model`.

    Args:
        model: the object to check.
        argument: the argument name used in the error message.
            Defaults to `"model"`.

    Raises:
        TypeError: if `model` is not a `keras.Model`.
        ValueError: if `model` is a subclassed model, whose layer graph
            cannot be rebuilt.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"Invalid value for argument `{argument}`. Expected a "
            f"`keras.Model`. Received: {argument}={model!r} of type "
            f"{type(model).__name__}"
        )
    functional = (keras.Sequential, keras.src.models.Functional)
    if not isinstance(model, functional):
        raise ValueError(
            f"Invalid value for argument `{argument}`. The lighten "
            "transforms rebuild a model from its layer graph, so they need "
            "a Sequential or Functional model. Received a subclassed model "
            f"of class {type(model).__name__}. Build the same network with "
            "the Functional API (or wrap its layers in a Sequential) first."
        )
    if not model.built:
        raise ValueError(
            f"Invalid value for argument `{argument}`. The model must be "
            f"built (call it once or give it an Input). Received: "
            f"{argument}={model.name!r} (not built)"
        )


#: Every non-model layer of a model, nested models flattened.
iter_layers = keras_compat.leaf_layers


def clone_replacing(model, replace):
    """Clones `model`, letting `replace` substitute layers.

    Args:
        model: a Sequential or Functional model.
        replace: callable `replace(layer) -> keras.layers.Layer or None`;
            `None` keeps an ordinary clone of the layer.

    Returns:
        A tuple `(new_model, pairs)` where `pairs` lists
        `(original_layer, new_layer)` for every leaf layer, and the new
        model has the weights of every unchanged layer copied.
    """
    pairs = []

    def clone_function(layer):
        new = replace(layer)
        if new is None:
            new = layer.__class__.from_config(layer.get_config())
        pairs.append((layer, new))
        return new

    new_model = keras_compat.clone_model(
        model, clone_function=clone_function, recursive=True
    )
    for old, new in pairs:
        if same_weight_shapes(old, new):
            new.set_weights(old.get_weights())
    return keras_compat.finalize_states(new_model), pairs


def same_weight_shapes(old, new):
    """Whether two layers have the same class and weight shapes."""
    if type(old) is not type(new):
        return False
    old_shapes = [tuple(w.shape) for w in old.weights]
    new_shapes = [tuple(w.shape) for w in new.weights]
    return old_shapes == new_shapes


def input_shape_of(layer):
    """The input shape of a layer used once, or None when ambiguous."""
    nodes = getattr(layer, "_inbound_nodes", [])
    shapes = set()
    for node in nodes:
        tensors = node.input_tensors
        if len(tensors) != 1:
            return None
        shapes.add(tuple(tensors[0].shape))
    if len(shapes) != 1:
        return None
    return shapes.pop()


def unique_name(model, base):
    """A layer name based on `base` that `model` does not use yet."""
    taken = {layer.name for layer in iter_layers(model)}
    taken.update(layer.name for layer in model.layers)
    if base not in taken:
        return base
    index = 1
    while f"{base}_{index}" in taken:
        index += 1
    return f"{base}_{index}"


def as_numpy(weights):
    """Converts a list of variables to float numpy arrays."""
    return [np.asarray(keras.ops.convert_to_numpy(w)) for w in weights]
