"""Random augmentation layers in quantization-aware training.

A Keras 3 model traced for PTQ (`convert`, `training=False`) holds no
random op: its augmentation layers (`RandomFlip`, `RandomRotation`, ...)
pass their input through at inference. Their `tf_keras` clones inside
tfmot's wrappers choose between augmenting and passing through on the
learning phase, a tensor, so both branches, random ops included, reach the
TFLite converter, which refuses them. `tfc.lite.qat` therefore trains with
these layers (the fine-tuning still sees augmented data) and exports the
model without them, which is what they compute at inference.

A random layer that changes its input at inference (a custom subclass
of a Keras augmentation layer, say) can neither be dropped nor converted:
it is refused before training, by name.
"""

import keras

from tf_compact.internal import keras_compat
from tf_compact.internal.input_augmentation import (
    is_inference_identity_augmentation,
)


def _leaves(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaves(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            yield layer


def _input_shape(layer):
    try:
        return tuple(layer.input.shape)
    except (AttributeError, ValueError):  # several inputs or nodes
        return None


def augmentation_layers(model):
    """Names of the layers of `model` that QAT trains with and exports
    without: preprocessing that passes its input through at inference.

    Nested models are opened (the `tf_keras` clone inlines them), so the
    names are those of the clone's layers.

    Args:
        model: A Keras 3 Functional or Sequential model.

    Returns:
        A list of layer names, in model order.

    Raises:
        ValueError: If a random preprocessing layer changes its input at
            inference (its `tf_keras` clone cannot be converted); the
            message names it and says what to do.

    Example:

    ```python
    augmentation_layers(model)  # ["random_flip", "random_rotation"]
    ```
    """
    names = []
    for layer in _leaves(model):
        if not keras_compat.is_preprocessing_layer(layer):
            continue
        if is_inference_identity_augmentation(layer, _input_shape(layer)):
            names.append(layer.name)
        elif type(layer).__name__.startswith("Random"):
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) of model "
                f"{model.name!r} changes its input at inference, so "
                "quantization-aware training can neither drop it from the "
                "exported model nor convert it (its tf_keras clone keeps "
                "random ops that TFLite refuses). Move it into the input "
                "pipeline (`tf.data`), or replace it with what it does at "
                "inference, then call `tfc.lite.qat` again."
            )
    return names


def without_layers(qat_model, names, tfmot):
    """A model sharing `qat_model`'s layers, less the layers `names`.

    Each layer named in `names` (or its tfmot wrapper, `quant_<name>`) is
    replaced by an identity; every other layer, and its trained weights
    and quantization ranges, is shared. `qat_model` is not changed.

    Args:
        qat_model: A quantization-aware `tf_keras` model.
        names: Layer names from `augmentation_layers`.
        tfmot: The imported tfmot module.

    Returns:
        `qat_model` itself when `names` is empty, else the new model.

    Example:

    ```python
    export = without_layers(student, ["random_flip"], import_tfmot())
    ```
    """
    if not names:
        return qat_model
    import tf_keras

    dropped = set(names) | {f"quant_{name}" for name in names}

    def identity_for_dropped(layer):
        if layer.name in dropped:
            return tf_keras.layers.Activation("linear", name=layer.name)
        return layer

    with tfmot.quantization.keras.quantize_scope():
        return tf_keras.models.clone_model(
            qat_model, clone_function=identity_for_dropped
        )
