"""Where a model's stages end: the candidate layers for automatic pairs.

A feature pair compares what two networks have computed at one spatial
resolution. Layers that only hand the input on (the input itself,
preprocessing such as `Rescaling` or `Normalization`, random augmentation)
or only add a zero border (`ZeroPadding*`) have computed nothing worth
comparing, so they never end a stage.
"""

import keras

_PADDING = (
    keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D,
    keras.layers.ZeroPadding3D,
)
_PREPROCESSING = (
    keras.layers.Rescaling,
    keras.layers.Normalization,
    keras.layers.Resizing,
    keras.layers.CenterCrop,
)
# Private base classes of Keras's preprocessing and augmentation layers,
# matched by name (`TFDataLayer` before Keras 3.9, `DataLayer` since).
_DATA_LAYER_BASES = ("DataLayer", "TFDataLayer")


def is_pass_through(layer):
    """Returns whether `layer` never ends a stage.

    True for an `InputLayer`, a zero-padding layer, a Keras preprocessing
    or augmentation layer, and a nested model made only of those.

    Args:
        layer: A `keras.layers.Layer`.

    Returns:
        A bool.
    """
    if isinstance(layer, (keras.layers.InputLayer, *_PADDING, *_PREPROCESSING)):
        return True
    bases = {cls.__name__ for cls in type(layer).__mro__}
    if bases.intersection(_DATA_LAYER_BASES):
        return True
    if isinstance(layer, keras.Model):
        inner = [
            sub
            for sub in layer.layers
            if not isinstance(sub, keras.layers.InputLayer)
        ]
        return bool(inner) and all(is_pass_through(sub) for sub in inner)
    return False


def stage_ends(model, spatial=False):
    """Maps each spatial resolution to the last layer producing it.

    Only 4D (batch, height, width, channels) outputs of known size count,
    and layers for which `is_pass_through` holds are skipped.

    Args:
        model: A Functional or Sequential `keras.Model`.
        spatial: Whether to skip outputs of a single position (1×1), whose
            spatial attention is trivially uniform. Defaults to `False`.

    Returns:
        A dict `{(height, width): layer_name}`, in order of first
        appearance.
    """
    ends = {}
    for layer in model.layers:
        if is_pass_through(layer):
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) != 4 or shape[1] is None or shape[2] is None:
            continue
        if spatial and shape[1] * shape[2] <= 1:
            continue
        ends[(shape[1], shape[2])] = layer.name
    return ends
