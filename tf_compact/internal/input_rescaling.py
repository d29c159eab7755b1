"""Models that take raw pixel values and scale them themselves.

A Keras image model often starts with `keras.layers.Rescaling(1 / 255)`
(after any augmentation layers), the convention
`keras.utils.image_dataset_from_directory` follows: it takes the stored
pixel values, 0 to 255, not pixels already divided by 255. Such a model
fed divided pixels sees inputs a 255th of their size, and every number
measured on them (accuracy, int8 ranges) is wrong.
"""

import numpy as np

#: A leading `Rescaling` whose scale is at most this takes raw values:
#: data in [0, 1] would reach at most this after it (raw pixels reach
#: about 1).
RAW_SCALE_BELOW = 0.05


#: Layers that keep the scale of their inputs at inference (augmentation
#: layers, `Random*`, pass them through as well).
_SAME_SCALE = (
    "InputLayer",
    "Resizing",
    "CenterCrop",
    "GaussianNoise",
    "GaussianDropout",
    "Dropout",
    "SpatialDropout2D",
    "AlphaDropout",
    "Identity",
)


def leading_rescaling(model):
    """The `Rescaling` layer a single-input model applies first (after
    any augmentation layers, which pass inputs through at inference, and
    looking inside a nested preprocessing model), or `None`.

    Example:

    ```python
    layer = leading_rescaling(model)  # e.g. Rescaling(scale=1/255)
    ```
    """
    if len(getattr(model, "inputs", None) or []) != 1:
        return None
    found = _first_effective(model.layers)
    return found if type(found).__name__ == "Rescaling" else None


def _first_effective(layers):
    """The first of `layers` that changes its input at inference (inside
    nested models), or `None` when every one passes it through."""
    for layer in layers:
        kind = type(layer).__name__
        if kind in _SAME_SCALE or kind.startswith("Random"):
            continue
        if kind in ("Sequential", "Functional") and len(layer.inputs) == 1:
            inner = _first_effective(layer.layers)
            if inner is None:
                continue
            return inner
        return layer
    return None


def rescaling_scale(layer):
    """The largest absolute scale of a `Rescaling` layer (one per channel
    or one for all), or `None` for a zero or non-finite one."""
    scale = np.abs(np.asarray(layer.scale, dtype=float)).ravel()
    if not scale.size or not np.isfinite(scale).all() or scale.max() == 0:
        return None
    return float(scale.max())


def takes_raw_values(model):
    """Whether `model` starts with a `Rescaling` that divides raw values
    (scale at most `RAW_SCALE_BELOW`, e.g. `1 / 255`).

    Example:

    ```python
    if takes_raw_values(model):
        x = x_uint8.astype("float32")  # not divided by 255
    ```
    """
    layer = leading_rescaling(model)
    scale = None if layer is None else rescaling_scale(layer)
    return scale is not None and scale <= RAW_SCALE_BELOW
