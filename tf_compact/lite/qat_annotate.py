"""Annotating layers that tfmot's default 8-bit scheme does not know.

tfmot's `quantize_model` refuses any layer outside its registry, such as the
`Rescaling` and `Normalization` preprocessing layers at the top of
EfficientNet. Those layers are affine maps with no weights to train, so the
bridge annotates them with a config that quantizes only their output: the
converter then has the ranges it needs to run them in int8.

tfmot has no config for `BatchNormalization` either: its layout transforms
fold a BN into a directly preceding linear convolution or dense layer. A BN
they cannot fold (after `Conv2D(activation="relu")`, after a pooling layer,
or after a layer with several consumers) is an affine map at inference too,
and gets the same output-only config.

`import_tfmot` imports tfmot for all of them, leaving the environment as
it found it.
"""

import os

from tf_compact.internal import keras_compat


def import_tfmot():
    """Imports tfmot, leaving `TF_USE_LEGACY_KERAS` as it found it.

    Returns:
        The `tensorflow_model_optimization` module.

    Raises:
        ImportError: If tfmot or tf_keras is not installed; the message says
            which extra to install.

    Example:

    ```python
    tfmot = import_tfmot()
    ```
    """
    previous = os.environ.get("TF_USE_LEGACY_KERAS")
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError as e:
        raise ImportError(
            "Quantization-aware training needs tensorflow-model-optimization "
            "and tf-keras: `pip install tf-compact[tfmot]`. "
            f"Import failed with: {e}"
        ) from e
    finally:
        if previous is None:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        else:
            os.environ["TF_USE_LEGACY_KERAS"] = previous
    return tfmot


def _output_config_class(qk):
    class OutputOnlyQuantizeConfig(qk.QuantizeConfig):
        """Fake-quantizes a layer's output; leaves its weights in float."""

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [
                qk.quantizers.MovingAverageQuantizer(
                    num_bits=8,
                    per_axis=False,
                    symmetric=False,
                    narrow_range=False,
                )
            ]

        def get_config(self):
            return {}

    return OutputOnlyQuantizeConfig


def _registry():
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (  # noqa: E501
        default_8bit_quantize_registry as registry,
    )

    return registry.Default8BitQuantizeRegistry()


def _folded_batch_norms(model):
    """Names of the BN layers that tfmot's layout transforms fold.

    Runs tfmot's own default 8-bit layout transforms on `model` (they
    rebuild a copy from its config; `model` is not changed): a BN they fold
    into the preceding layer comes out with a quantize config, one they
    leave alone comes out without.
    """
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (  # noqa: E501
        default_8bit_quantize_layout_transform as layout,
    )

    quantize_map = {layer.name: {} for layer in model.layers}
    _, quantize_map = layout.Default8BitQuantizeLayoutTransform().apply(
        model, quantize_map
    )
    return {
        name
        for name, entry in quantize_map.items()
        if entry.get("quantize_config") is not None
    }


def unsupported_layers(model):
    """Names of `model`'s layers outside tfmot's default 8-bit registry.

    Args:
        model: A `tf_keras` model.

    Returns:
        A list of layer names: input layers and the batch-normalization
        layers that tfmot folds into a preceding layer, which it handles
        without the registry, are excluded; a batch normalization it cannot
        fold is listed.

    Example:

    ```python
    unsupported_layers(tfc.lite.to_tf_keras(model))
    ```
    """
    import tf_keras

    registry = _registry()
    batch_norm = tf_keras.layers.BatchNormalization
    folded = set()
    if any(isinstance(layer, batch_norm) for layer in model.layers):
        folded = _folded_batch_norms(model)
    return [
        layer.name
        for layer in model.layers
        if not isinstance(layer, tf_keras.layers.InputLayer)
        and layer.name not in folded
        and not registry.supports(layer)
    ]


def quantize_with_fallback(model, tfmot):
    """`quantize_model`, with output-only configs for unknown layers.

    Args:
        model: A flat `tf_keras` model.
        tfmot: The imported tfmot module.

    Returns:
        The quantization-aware `tf_keras` model.

    Example:

    ```python
    qat_model = quantize_with_fallback(tfk_model, import_tfmot())
    ```
    """
    import tf_keras

    qk = tfmot.quantization.keras
    try:
        return _finalized(qk.quantize_model(model))
    except RuntimeError as e:
        if "is not supported" not in str(e):
            raise
    unknown = set(unsupported_layers(model))
    config_class = _output_config_class(qk)

    def annotate(layer):
        if isinstance(layer, tf_keras.layers.InputLayer):
            return layer
        if layer.name in unknown:
            return qk.quantize_annotate_layer(layer, config_class())
        return qk.quantize_annotate_layer(layer)

    annotated = tf_keras.models.clone_model(model, clone_function=annotate)
    scope = {config_class.__name__: config_class}
    with qk.quantize_scope(scope):
        return _finalized(qk.quantize_apply(annotated))


def _finalized(qat_model):
    """`qat_model` with the state its layers derive from their weights
    (an adapted Normalization's mean and variance) recomputed: tfmot
    clones the model and copies the weights, which leaves that state at
    its defaults."""
    for layer in qat_model.layers:
        keras_compat.finalize_layer(getattr(layer, "layer", layer))
    return qat_model
