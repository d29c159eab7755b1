"""Replace standard convolutions by depthwise-separable ones."""

import keras
import numpy as np

from tf_compact.lighten import _clone

_SEPARABLE = {
    keras.layers.Conv1D: keras.layers.SeparableConv1D,
    keras.layers.Conv2D: keras.layers.SeparableConv2D,
}
_INITIALIZATIONS = ("svd", "random")


def separable(
    model,
    layers=None,
    depth_multiplier=1,
    min_input_channels=4,
    initialization="svd",
):
    """Replaces k×k convolutions by depthwise-separable convolutions.

    Each selected `Conv1D`/`Conv2D` (kernel larger than 1, `groups=1`)
    becomes a `SeparableConv1D`/`SeparableConv2D` with the same name,
    filters, kernel size, strides, padding, dilation, activation and bias.
    A `kernel_regularizer` becomes the pointwise kernel's regularizer; the
    depthwise kernel gets none. A standard convolution costs
    `k²·Cin·Cout` multiply-adds per output position, the separable one
    `k²·Cin·m + Cin·m·Cout` (`m` is the depth multiplier).

    With `initialization="svd"` the separable layer starts from the best
    approximation of the original kernel it can express: for every input
    channel `c`, the `k²×Cout` slice `W[..., c, :]` is replaced by its
    rank-`m` truncated SVD, whose left factors become the depthwise filters
    and right factors the pointwise weights. When `m ≥ min(k², Cout)` the
    replacement is exact. The bias is copied.

    Args:
        model: a built Sequential or Functional `keras.Model`.
        layers: names of the convolutions to replace, or `None` for every
            eligible one (kernel larger than 1, `groups=1`, at least
            `min_input_channels` input channels, padding not `"causal"`).
            Defaults to `None`.
        depth_multiplier: depthwise channels per input channel.
            Defaults to `1`.
        min_input_channels: with `layers=None`, convolutions with fewer
            input channels are kept (this keeps the stem convolution on a
            gray or RGB image, where a separable one saves nothing).
            Defaults to `4`.
        initialization: `"svd"` (approximate the original kernel) or
            `"random"` (the layer's default initializers).
            Defaults to `"svd"`.

    Returns:
        A new `keras.Model`; the input model is not modified.

    Raises:
        TypeError: if `model` is not a `keras.Model`, or `layers` is not
            a list of names.
        ValueError: if an argument is out of range, a named layer is not an
            eligible convolution, or nothing is eligible.

    Example:

    ```python
    model = tf_compact.models.vgg(input_shape=(28, 28, 1))
    light = tf_compact.lighten.separable(model)
    print(tf_compact.profile(light).macs / tf_compact.profile(model).macs)
    ```
    """
    _clone.validate_model(model)
    _validate_int("depth_multiplier", depth_multiplier, 1)
    _validate_int("min_input_channels", min_input_channels, 1)
    if initialization not in _INITIALIZATIONS:
        raise ValueError(
            "Invalid value for argument `initialization`. Expected one of "
            f"{_INITIALIZATIONS}. Received: initialization={initialization!r}"
        )
    targets = _select_convs(model, layers, min_input_channels)

    def replace(layer):
        if id(layer) not in targets:
            return None
        return _separable_like(layer, depth_multiplier)

    new_model, pairs = _clone.clone_replacing(model, replace)
    if initialization == "svd":
        for old, new in pairs:
            if id(old) in targets:
                new.set_weights(_svd_weights(old, depth_multiplier))
    return new_model


def _validate_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"Invalid value for argument `{name}`. Expected an integer >= "
            f"{minimum}. Received: {name}={value!r}"
        )
    if value < minimum:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected an integer >= "
            f"{minimum}. Received: {name}={value}"
        )


def _eligible(layer):
    """Returns None when `layer` can be replaced, else the reason why not."""
    if type(layer) not in _SEPARABLE:
        return f"it is a {type(layer).__name__}, not a Conv1D or Conv2D"
    if layer.groups != 1:
        return f"it is a grouped convolution (groups={layer.groups})"
    if int(np.prod(layer.kernel_size)) == 1:
        return "its kernel is 1x1 (already pointwise)"
    if layer.padding == "causal":
        return "its padding is 'causal'"
    return None


def _select_convs(model, layers, min_input_channels):
    convs = {
        layer.name: layer
        for layer in _clone.iter_layers(model)
        if _eligible(layer) is None
    }
    if layers is None:
        selected = {
            id(layer): layer
            for layer in convs.values()
            if _input_channels(layer) >= min_input_channels
        }
        if not selected:
            raise ValueError(
                f"No convolution of model {model.name!r} can be made "
                "separable: none is a Conv1D/Conv2D with a kernel larger "
                f"than 1, groups=1 and at least {min_input_channels} input "
                "channels (see `min_input_channels`)."
            )
        return selected
    if isinstance(layers, str) or not isinstance(layers, (list, tuple, set)):
        raise TypeError(
            "Invalid value for argument `layers`. Expected a list of layer "
            f"names or None. Received: layers={layers!r}"
        )
    all_layers = {layer.name: layer for layer in _clone.iter_layers(model)}
    selected = {}
    for name in layers:
        if name not in all_layers:
            raise ValueError(
                "Invalid value for argument `layers`: model "
                f"{model.name!r} has no layer named {name!r}. "
                f"Eligible convolutions: {sorted(convs)}"
            )
        reason = _eligible(all_layers[name])
        if reason is not None:
            raise ValueError(
                f"Layer {name!r} cannot be made separable: {reason}. "
                f"Eligible convolutions: {sorted(convs)}"
            )
        selected[id(all_layers[name])] = all_layers[name]
    return selected


def _input_channels(layer):
    kernel_shape = tuple(layer.kernel.shape)
    return int(kernel_shape[-2])


def _separable_like(conv, depth_multiplier):
    config = conv.get_config()
    kwargs = {
        key: config[key]
        for key in (
            "name",
            "filters",
            "kernel_size",
            "strides",
            "padding",
            "data_format",
            "dilation_rate",
            "activation",
            "use_bias",
            "bias_initializer",
            "bias_regularizer",
            "activity_regularizer",
            "bias_constraint",
            "trainable",
            "dtype",
        )
        if key in config
    }
    kwargs["pointwise_regularizer"] = config.get("kernel_regularizer")
    return _SEPARABLE[type(conv)](depth_multiplier=depth_multiplier, **kwargs)


def _svd_weights(conv, depth_multiplier):
    """Depthwise and pointwise kernels that best approximate `conv`."""
    weights = _clone.as_numpy(conv.weights)
    kernel = weights[0]
    spatial = kernel.shape[:-2]
    cin, cout = kernel.shape[-2:]
    m = depth_multiplier
    per_channel = kernel.reshape((-1, cin, cout)).transpose(1, 0, 2)
    u, s, vt = np.linalg.svd(per_channel, full_matrices=False)
    rank = min(m, s.shape[-1])
    root = np.sqrt(s[:, :rank])
    depthwise = np.zeros((per_channel.shape[1], cin, m), kernel.dtype)
    depthwise[:, :, :rank] = (u[:, :, :rank] * root[:, None, :]).transpose(
        1, 0, 2
    )
    pointwise = np.zeros((cin, m, cout), kernel.dtype)
    pointwise[:, :rank, :] = vt[:, :rank, :] * root[:, :, None]
    ones = (1,) * len(spatial)
    new = [
        depthwise.reshape(spatial + (cin, m)),
        pointwise.reshape(ones + (cin * m, cout)),
    ]
    return new + weights[1:]
