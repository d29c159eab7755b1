"""Annotating layers that tfmot's default 8-bit scheme does not know.

tfmot's `quantize_model` refuses any layer outside its registry, such as the
`Rescaling` and `Normalization` preprocessing layers at the top of
EfficientNet. Those layers are affine maps with no weights to train, so the
bridge annotates them with a config that quantizes only their output: the
converter then has the ranges it needs to run them in int8.
"""


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


def unsupported_layers(model):
    """Names of `model`'s layers outside tfmot's default 8-bit registry.

    Args:
        model: A `tf_keras` model.

    Returns:
        A list of layer names (input and batch-normalization layers, which
        tfmot handles without the registry, excluded).

    Example:

    ```python
    unsupported_layers(tfc.lite.to_tf_keras(model))
    ```
    """
    import tf_keras

    registry = _registry()
    return [
        layer.name
        for layer in model.layers
        if not isinstance(layer, _handled_by_transforms(tf_keras))
        and not registry.supports(layer)
    ]


def _handled_by_transforms(tf_keras):
    # Input layers are not quantized; BatchNormalization is folded into the
    # preceding convolution by tfmot's layout transforms.
    return (tf_keras.layers.InputLayer, tf_keras.layers.BatchNormalization)


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
        return qk.quantize_model(model)
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
        return qk.quantize_apply(annotated)
