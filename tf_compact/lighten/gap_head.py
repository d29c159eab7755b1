"""Replace a Flatten→Dense classifier head by global average pooling."""

import keras
import numpy as np

from tf_compact.lighten import _clone

_GAP_LAYERS = {
    3: keras.layers.GlobalAveragePooling1D,
    4: keras.layers.GlobalAveragePooling2D,
    5: keras.layers.GlobalAveragePooling3D,
}


def gap_head(model, layers=None):
    """Replaces Flatten→Dense heads by GlobalAveragePooling→Dense.

    A `Flatten` over a feature map of shape `(..., S, C)` feeds a `Dense`
    whose kernel has `S·C` rows; most of a VGG-style network's parameters
    live there. The transform puts a global average pooling in place of
    the `Flatten`, so the `Dense` that follows only has `C` rows, and
    initialises those rows as the sum of the original rows over the spatial
    positions: for feature maps that are constant over space the new head
    computes exactly what the old one did, so the lightened model starts
    close to the original before fine-tuning.

    Layers between the `Flatten` and the `Dense` must not hold per-feature
    weights (`Dropout`, `Activation` and the like are fine). The input
    model is not modified; every other layer keeps its weights and name.

    Args:
        model: a built Sequential or Functional `keras.Model` (nested
            models are handled).
        layers: names of the `Flatten` layers to replace, or `None` for
            every `Flatten` whose input has spatial dimensions (rank 3 to
            5). Defaults to `None`.

    Returns:
        A new `keras.Model`.

    Raises:
        TypeError: if `model` is not a `keras.Model` or `layers` is not a
            list of names.
        ValueError: if the model is subclassed or not built, if no
            `Flatten` head is found, if a named layer is not a `Flatten`
            over a feature map, or if a layer between the `Flatten` and the
            `Dense` holds per-feature weights.

    Example:

    ```python
    teacher = tf_compact.models.vgg(input_shape=(28, 28, 1))
    light = tf_compact.lighten.gap_head(teacher)
    print(teacher.count_params(), "->", light.count_params())
    ```
    """
    _clone.validate_model(model)
    targets = _select_flattens(model, layers)
    names_taken = set()

    def replace(layer):
        if id(layer) not in targets:
            return None
        rank = len(_clone.input_shape_of(layer))
        name = _clone.unique_name(model, f"{layer.name}_gap")
        while name in names_taken:
            name = name + "_"
        names_taken.add(name)
        return _GAP_LAYERS[rank](
            data_format=layer.data_format, name=name, dtype=layer.dtype_policy
        )

    new_model, pairs = _clone.clone_replacing(model, replace)
    for old, new in pairs:
        if id(old) in targets or _clone.same_weight_shapes(old, new):
            continue
        if isinstance(old, keras.layers.Dense) and type(new) is type(old):
            _init_dense_from_flatten(old, new)
        else:
            raise ValueError(
                f"Layer {old.name!r} ({type(old).__name__}) sits between a "
                "replaced Flatten and its Dense and holds per-feature "
                "weights, which global average pooling cannot map. Leave "
                "this head out with `layers=[...]`, or move the layer "
                "after the Dense."
            )
    return new_model


def _select_flattens(model, layers):
    """Returns `{id(layer): layer}` of the Flatten layers to replace."""
    candidates = {}
    for layer in _clone.iter_layers(model):
        if not isinstance(layer, keras.layers.Flatten):
            continue
        shape = _clone.input_shape_of(layer)
        if shape is not None and len(shape) in _GAP_LAYERS:
            candidates[layer.name] = layer
    if layers is None:
        if not candidates:
            raise ValueError(
                "No Flatten→Dense head found in model "
                f"{model.name!r}: it has no Flatten layer over a feature "
                "map of rank 3 to 5, so `gap_head` has nothing to replace."
            )
        return {id(layer): layer for layer in candidates.values()}
    return _named_flattens(model, layers, candidates)


def _named_flattens(model, layers, candidates):
    if isinstance(layers, str) or not isinstance(layers, (list, tuple, set)):
        raise TypeError(
            "Invalid value for argument `layers`. Expected a list of layer "
            f"names or None. Received: layers={layers!r}"
        )
    selected = {}
    for name in layers:
        if name not in candidates:
            raise ValueError(
                "Invalid value for argument `layers`. Each name must be a "
                "Flatten layer over a feature map of model "
                f"{model.name!r}; candidates are {sorted(candidates)}. "
                f"Received: {name!r}"
            )
        selected[id(candidates[name])] = candidates[name]
    return selected


def _init_dense_from_flatten(old, new):
    """Sets `new.kernel[c] = sum over positions s of old.kernel[s, c]`."""
    weights = _clone.as_numpy(old.weights)
    kernel = weights[0]
    channels = new.kernel.shape[0]
    if kernel.shape[0] % channels:
        raise ValueError(
            f"Cannot map Dense layer {old.name!r}: its kernel has "
            f"{kernel.shape[0]} input rows, not a multiple of the "
            f"{channels} channels the pooled head provides."
        )
    positions = kernel.shape[0] // channels
    folded = kernel.reshape((positions, channels) + kernel.shape[1:])
    weights[0] = np.sum(folded, axis=0)
    new.set_weights(weights)
