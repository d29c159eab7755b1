"""The random augmentation a model applies to its input before anything else.

A model such as `Input -> RandomFlip -> RandomRotation -> Rescaling -> ...`
augments its input in training and passes it through unchanged at
inference. Code that runs a second model on the same batch (a Distiller's
teacher) finds these leading layers here, so that both models can see the
same augmented images.
"""

import keras
import numpy as np

from tf_compact.internal import keras_compat
from tf_compact.internal.head_trace import same_tensor

# Size given to unknown non-batch dimensions of the probe.
_PROBE_SIZE = 8


class InputAugmentation:
    """The leading augmentation layers of a model, split off as a model.

    Attributes:
        layer_names: Names of the leading layers, in call order.
        output: The Keras tensor they produce: the input of the rest of
            the model.
        model: A `keras.Model` from the model's input to `output`, sharing
            the layers (and their random state) with the model.
        elsewhere: Names of augmentation layers further inside the model
            (after a layer that changes the data at inference).

    Example:

    ```python
    found = find(student)
    if found.model is not None:
        augmented = found.model(x, training=True)
    ```
    """

    def __init__(self, layer_names, output, model, elsewhere):
        self.layer_names = layer_names
        self.output = output
        self.model = model
        self.elsewhere = elsewhere


def _inner_layers(layer):
    if not isinstance(layer, keras.Model):
        return [layer]
    found = []
    for inner in layer.layers:
        if not isinstance(inner, keras.layers.InputLayer):
            found.extend(_inner_layers(inner))
    return found


def _probe(shape):
    # Small whole numbers: float16 and bfloat16 hold them exactly, so a
    # layer computing in a mixed-precision policy passes them unchanged.
    dims = [2] + [_PROBE_SIZE if d is None else d for d in shape[1:]]
    return np.random.default_rng(0).integers(0, 8, dims).astype("float32")


def is_inference_identity_augmentation(layer, input_shape):
    """Whether `layer` is Keras preprocessing (or a model made only of it)
    that returns its input unchanged at inference, as the random
    augmentation layers do.

    Example:

    ```python
    is_inference_identity_augmentation(
        keras.layers.RandomFlip(), (None, 8, 8, 3)
    )  # True
    ```
    """
    inner = _inner_layers(layer)
    if not inner or not all(
        keras_compat.is_preprocessing_layer(x) for x in inner
    ):
        return False
    if input_shape is None or len(input_shape) < 2:
        return False
    x = _probe(input_shape)
    try:
        y = layer(x, training=False)
        y = keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))
    except Exception:  # noqa: BLE001 - a layer that cannot be probed is kept
        return False
    return y.shape == x.shape and np.array_equal(y, x)


def _consumers(nodes, tensor):
    return [
        node
        for node in nodes
        if any(same_tensor(t, tensor) for t in node.input_tensors)
    ]


def _node_input_shape(node):
    tensors = list(node.input_tensors)
    return tuple(tensors[0].shape) if len(tensors) == 1 else None


def find(model):
    """The leading augmentation layers of a Functional/Sequential model.

    The chain starts at the model's single input: each layer in it is the
    only consumer of the previous tensor, takes one tensor and returns
    one, and is an augmentation that passes data through at inference
    (see `is_inference_identity_augmentation`).

    Args:
        model: A `keras.Model`.

    Returns:
        An `InputAugmentation`; its `model` is `None` when the model has no
        leading augmentation (or no symbolic graph, or several inputs).
    """
    functional = keras_compat.functional_graph(model)
    if functional is None or len(functional.inputs) != 1:
        return InputAugmentation([], None, None, [])
    nodes = [
        node
        for node in keras_compat.ordered_nodes(functional)
        if not isinstance(node.operation, keras.layers.InputLayer)
    ]
    tensor = functional.inputs[0]
    names, chain = [], set()
    while True:
        consumers = _consumers(nodes, tensor)
        if len(consumers) != 1 or len(consumers[0].outputs) != 1:
            break
        node = consumers[0]
        shape = _node_input_shape(node)
        if not is_inference_identity_augmentation(node.operation, shape):
            break
        names.append(node.operation.name)
        chain.add(id(node))
        tensor = node.outputs[0]
    elsewhere = _augmentation_in(nodes, chain)
    if not names:
        return InputAugmentation([], None, None, elsewhere)
    prefix = keras.Model(
        functional.inputs[0], tensor, name=f"{model.name}_augmentation"
    )
    return InputAugmentation(names, tensor, prefix, elsewhere)


def _augmentation_in(nodes, skipped, prefix=""):
    """Qualified names of the augmentation layers among `nodes`, nested
    models opened, less the nodes whose ids are in `skipped`."""
    found = []
    for node in nodes:
        if id(node) in skipped:
            continue
        layer = node.operation
        if is_inference_identity_augmentation(layer, _node_input_shape(node)):
            found.append(prefix + layer.name)
            continue
        inner = keras_compat.functional_graph(layer)
        if isinstance(layer, keras.Model) and inner is not None:
            inner_nodes = [
                n
                for n in keras_compat.ordered_nodes(inner)
                if not isinstance(n.operation, keras.layers.InputLayer)
            ]
            found += _augmentation_in(inner_nodes, (), f"{layer.name}/")
    return found
