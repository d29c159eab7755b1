"""Replace a Flatten→Dense classifier head by global average pooling."""

import itertools

import keras
import numpy as np

from tf_compact.internal import input_batches as calibration
from tf_compact.lighten import _clone

_GAP_LAYERS = {
    3: keras.layers.GlobalAveragePooling1D,
    4: keras.layers.GlobalAveragePooling2D,
    5: keras.layers.GlobalAveragePooling3D,
}


def gap_head(model, layers=None, data=None, num_calibration_steps=8):
    """Replaces Flatten→Dense heads by GlobalAveragePooling→Dense.

    A `Flatten` over a feature map of shape `(..., S, C)` feeds a `Dense`
    whose kernel has `S·C` rows; most of a VGG-style network's parameters
    live there. The transform puts a global average pooling in place of
    the `Flatten`, so the `Dense` that follows only has `C` rows, and
    initialises those rows as the sum of the original rows over the spatial
    positions: for feature maps that are constant over space the new head
    computes exactly what the old one did, so the lightened model starts
    close to the original before fine-tuning.

    Real feature maps are far from constant (after a few poolings a VGG
    map is 3x3 and peaked), so that start can sit near chance accuracy.
    With `data`, each new `Dense` is instead fitted by ridge-regularized
    least squares to reproduce the old `Dense`'s pre-activations on those
    images: the best linear map from the pooled features, which keeps most
    of the teacher's accuracy before any training.

    Layers between the `Flatten` and the `Dense` must not hold per-feature
    weights (`Dropout`, `Activation` and the like are fine). The input
    model is not modified; every other layer keeps its weights and name.

    Args:
        model: a built Sequential or Functional `keras.Model` (nested
            models are handled).
        layers: names of the `Flatten` layers to replace, or `None` for
            every `Flatten` whose input has spatial dimensions (rank 3 to
            5) and is not an input of `model` itself (an MLP's `Flatten`
            of the image is not a head). Defaults to `None`.
        data: calibration inputs for the least-squares fit, as
            `tfc.lite.convert` takes them: an array of inputs (used whole),
            a `tf.data.Dataset` of inputs or `(x, y)` batches, an iterable
            of such, or a callable returning one; `None` keeps the
            summed-kernel start. Only heads of the top-level model are
            fitted. Defaults to `None`.
        num_calibration_steps: batches of a dataset or iterable `data` to
            use. Defaults to `8`.

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
    # Fitted on training images: starts close to the teacher's accuracy.
    fitted = tf_compact.lighten.gap_head(teacher, data=bundle.train)
    ```
    """
    _clone.validate_model(model)
    if data is not None:
        calibration.validate_source(data, argument="data")
    calibration.validate_steps(num_calibration_steps)
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
    heads = []
    for old, new in pairs:
        if id(old) in targets or _clone.same_weight_shapes(old, new):
            continue
        if isinstance(old, keras.layers.Dense) and type(new) is type(old):
            _init_dense_from_flatten(old, new)
            heads.append((old, new))
        else:
            raise ValueError(
                f"Layer {old.name!r} ({type(old).__name__}) sits between a "
                "replaced Flatten and its Dense and holds per-feature "
                "weights, which global average pooling cannot map. Leave "
                "this head out with `layers=[...]`, or move the layer "
                "after the Dense."
            )
    if data is not None:
        images = _calibration_images(model, data, num_calibration_steps)
        for old, new in heads:
            _fit_dense(model, new_model, old, new, images)
    return new_model


def _calibration_images(model, data, steps):
    if isinstance(data, np.ndarray):
        return data.astype(np.float32)
    rank = len(model.inputs[0].shape)
    batches = calibration.as_batches(data, rank, argument="data")
    images = list(itertools.islice(batches, steps))
    if not images:
        raise ValueError("Invalid value for argument `data`: it is empty.")
    return np.concatenate(images)


def _fit_dense(model, new_model, old, new, images, ridge=1e-4):
    """Least-squares fit of `new` to `old`'s pre-activations on `images`."""
    try:
        old_in = keras.Model(model.inputs, old.input)
        new_in = keras.Model(new_model.inputs, new.input)
    except (ValueError, AttributeError, KeyError) as err:
        raise ValueError(
            f"Cannot fit Dense layer {old.name!r} from data: only heads of "
            "the top-level model are fitted. Pass `data=None` for the "
            "summed-kernel start."
        ) from err
    kernel = np.asarray(old.kernel, dtype=np.float64)
    source = np.asarray(old_in.predict(images, verbose=0), np.float64)
    target = source.reshape(len(images), -1) @ kernel
    if old.use_bias:
        target = target + np.asarray(old.bias, np.float64)
    pooled = np.asarray(new_in.predict(images, verbose=0), np.float64)
    pooled = pooled.reshape(len(images), -1)
    # Ridge regression with an unpenalized intercept: center both sides
    # when the layer has a bias, so the ridge only shrinks the slopes.
    p_mean = pooled.mean(0) if new.use_bias else np.zeros(pooled.shape[1])
    t_mean = target.mean(0) if new.use_bias else np.zeros(target.shape[1])
    centered = pooled - p_mean
    gram = centered.T @ centered
    scale = max(np.trace(gram) / len(gram), 1e-12)
    gram += ridge * scale * np.eye(len(gram))
    kernel = np.linalg.solve(gram, centered.T @ (target - t_mean))
    weights = [kernel]
    if new.use_bias:
        weights.append(t_mean - p_mean @ kernel)
    new.set_weights([w.astype(new.kernel.dtype) for w in weights])


def _select_flattens(model, layers):
    """Returns `{id(layer): layer}` of the Flatten layers to replace."""
    candidates = {}
    for layer in _clone.iter_layers(model):
        if not isinstance(layer, keras.layers.Flatten):
            continue
        shape = _clone.input_shape_of(layer)
        if (
            shape is not None
            and len(shape) in _GAP_LAYERS
            and not _reads_model_input(model, layer)
        ):
            candidates[layer.name] = layer
    if layers is None:
        if not candidates:
            raise ValueError(
                "No Flatten→Dense head found in model "
                f"{model.name!r}: it has no Flatten layer over a feature "
                "map of rank 3 to 5 (a Flatten of the model's input itself "
                "is not a head), so `gap_head` has nothing to replace."
            )
        return {id(layer): layer for layer in candidates.values()}
    return _named_flattens(model, layers, candidates)


def _reads_model_input(model, layer):
    """Whether `layer` flattens an input of `model` itself (an MLP's first
    layer), which holds pixels, not a feature map."""
    inputs = [id(t) for t in model.inputs]
    for node in getattr(layer, "_inbound_nodes", []):
        if any(id(t) in inputs for t in node.input_tensors):
            return True
    return False


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
