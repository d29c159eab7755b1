"""The one home of every private Keras (`keras.src`) name tf_compact uses.

Keras 3 keeps some classes the graph, the profiler and the surgery need
(the Functional graph, the operation base class, the preprocessing base
classes, the operation classes recorded for `keras.ops` calls) outside its
public API. They are imported here, once, so that a Keras release that
moves one breaks a single module; names a release lacks resolve to `None`
or an empty tuple instead of failing at import.
"""

import importlib
import inspect

import keras


def _module(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _attr(module_name, name):
    module = _module(module_name)
    return None if module is None else getattr(module, name, None)


Functional = _attr("keras.src.models.functional", "Functional")
Sequential = keras.Sequential
Operation = _attr("keras.src.ops.operation", "Operation") or keras.Operation
KerasTensor = keras.KerasTensor

_PRE = "keras.src.layers.preprocessing"
DataLayer = _attr(f"{_PRE}.data_layer", "DataLayer")
BaseImagePreprocessingLayer = _attr(
    f"{_PRE}.image_preprocessing.base_image_preprocessing_layer",
    "BaseImagePreprocessingLayer",
)


def ops_module(name):
    """The `keras.src.ops.<name>` module (`numpy`, `nn`, ...), or `None`."""
    return _module(f"keras.src.ops.{name}")


def applications_module(name):
    """The `keras.src.applications.<name>` module, or `None`."""
    return _module(f"keras.src.applications.{name}")


def is_preprocessing_layer(layer_or_class):
    """Whether a layer (class) belongs to Keras's preprocessing family.

    True for subclasses of Keras's data and image-preprocessing base
    layers (augmentation, resizing, cropping, rescaling, normalization,
    lookups, spectrograms) and for the other layers Keras defines in its
    preprocessing package.

    Example:

    ```python
    is_preprocessing_layer(keras.layers.RandomFlip)  # True
    ```
    """
    cls = layer_or_class
    if not inspect.isclass(cls):
        cls = type(cls)
    bases = tuple(c for c in (DataLayer, BaseImagePreprocessingLayer) if c)
    if bases and issubclass(cls, bases):
        return True
    return any(c.__module__.startswith(_PRE + ".") for c in inspect.getmro(cls))


def preprocessing_layer_classes():
    """The preprocessing layer classes exported by `keras.layers`."""
    found = []
    for name in dir(keras.layers):
        cls = getattr(keras.layers, name)
        if (
            inspect.isclass(cls)
            and issubclass(cls, keras.layers.Layer)
            and is_preprocessing_layer(cls)
            and cls not in found
        ):
            found.append(cls)
    return found


def call_parameter_names(layer, node):
    """Names the `call` parameter each input tensor of `node` was passed as.

    Keras lists a node's input tensors positional arguments first, then
    keyword arguments sorted by name. This returns, for each of
    `node.input_tensors` in that order, the name of the `call` parameter
    that received it (`None` when it cannot be told, e.g. inside a list).

    Example:

    ```python
    names = call_parameter_names(mha, node)  # ["query", "value", ...]
    ```
    """
    arguments = node.arguments
    try:
        params = list(inspect.signature(layer.call).parameters)
    except (TypeError, ValueError):
        params = []
    names = []
    for i, arg in enumerate(arguments.args):
        name = params[i] if i < len(params) else None
        names.extend([name] * _count_tensors(arg))
    for key in sorted(arguments.kwargs):
        names.extend([key] * _count_tensors(arguments.kwargs[key]))
    tensors = list(node.input_tensors)
    if len(names) != len(tensors):
        return [None] * len(tensors)
    return names


def _count_tensors(structure):
    leaves = keras.tree.flatten(structure)
    return sum(isinstance(x, KerasTensor) for x in leaves)


def global_state_module():
    """Keras's `backend.common.global_state` module."""
    return _module("keras.src.backend.common.global_state")


def call_order(layer, node):
    """Positions of `node.input_tensors` in `call` parameter order.

    Positional arguments keep their order; tensors passed by keyword come
    after them in the order of the `call` signature (Keras itself sorts
    them by name). Returns a permutation: `[node.input_tensors[i] for i in
    call_order(layer, node)]`.

    Example:

    ```python
    order = call_order(mha, node)  # query, value, key, then masks
    ```
    """
    names = call_parameter_names(layer, node)
    try:
        params = list(inspect.signature(layer.call).parameters)
    except (TypeError, ValueError):
        params = []
    rank = {name: i for i, name in enumerate(params)}
    positional = _count_tensors(node.arguments.args)

    def key(i):
        if i < positional:
            return (0, i)
        return (1, rank.get(names[i], len(rank)), i)

    return sorted(range(len(names)), key=key)


def functional_graph(model):
    """The Functional graph behind a model, or `None` when it has none.

    A Sequential model's graph exists once its input shape is known; a
    Functional model is its own graph; a subclassed model has none.

    Example:

    ```python
    functional_graph(keras.Sequential([keras.Input((4,)), Dense(2)]))
    ```
    """
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth"):
        return model
    return None


def ordered_nodes(functional):
    """The nodes of a Functional graph, each after those it depends on."""
    by_depth = functional._nodes_by_depth
    for depth in sorted(by_depth, reverse=True):
        yield from by_depth[depth]


def call_outputs(model, layer):
    """The outputs of each call of `layer` in the graph of `model`.

    A nested model's `.output` is a tensor of its own inner graph, not the
    one the outer model computes; the node of the call is. Returns a list
    with one entry per call (a tensor, or a list for several outputs);
    empty for a model without a Functional graph.

    Example:

    ```python
    [h] = call_outputs(model, model.get_layer("backbone"))
    ```
    """
    graph = functional_graph(model)
    if graph is None:
        return []
    calls = []
    for node in ordered_nodes(graph):
        if node.operation is layer:
            outputs = list(node.output_tensors)
            calls.append(outputs[0] if len(outputs) == 1 else outputs)
    return calls


_SafeModeScope = _attr("keras.src.saving.serialization_lib", "SafeModeScope")


def clone_model(model, **kwargs):
    """`keras.models.clone_model` that also clones `Lambda` layers.

    Cloning rebuilds each layer from its config, which Keras refuses for a
    `Lambda` layer in safe mode (a config could carry code from an untrusted
    file). The models cloned here are the caller's own, already in memory,
    so the code is already running: safe mode is lifted for the clone only.
    Keyword arguments go to `keras.models.clone_model`.

    Example:

    ```python
    copy = clone_model(model)
    ```
    """
    if _SafeModeScope is None:
        return keras.models.clone_model(model, **kwargs)
    with _SafeModeScope(False):
        return keras.models.clone_model(model, **kwargs)


def copy_with_weights(model):
    """A clone of `model` (as `clone_model`) holding its weights.

    Example:

    ```python
    copy = copy_with_weights(model)  # model is left as it is
    ```
    """
    clone = clone_model(model)
    clone.set_weights(model.get_weights())
    return finalize_states(clone)


def finalize_states(model):
    """Brings state computed from variables up to date after the variables
    were assigned, as Keras's own loader does, and returns `model`.

    An adapted `keras.layers.Normalization` normalizes with a mean and a
    variance derived from its `adapt_mean` and `adapt_variance` variables
    in `finalize_state()`; assigning the variables alone (`set_weights`, a
    weight copy) leaves it normalizing with 0 and 1. Every layer with a
    `finalize_state()` is finalized (lookup and discretization layers
    too).

    Example:

    ```python
    clone.set_weights(model.get_weights())
    finalize_states(clone)
    ```
    """
    for layer in model._flatten_layers(include_self=False):
        finalize_layer(layer)
    return model


def finalize_layer(layer):
    """Calls `layer.finalize_state()` when the layer (Keras 3 or
    `tf_keras`) has one and is built."""
    finalize = getattr(layer, "finalize_state", None)
    if callable(finalize) and layer.built:
        finalize()


def leaf_layers(model):
    """Yields every layer of `model` that is not itself a model, nested
    models flattened, in `model.layers` order.

    Example:

    ```python
    names = [layer.name for layer in leaf_layers(model)]
    ```
    """
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer
