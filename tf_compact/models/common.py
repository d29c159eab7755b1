"""Argument checks and layer helpers shared by the reference models."""

import math

import keras

# Moving statistics follow the weights within a few dozen steps: the short
# trainings and fine-tunings of compression leave Keras's default of 0.99
# far behind (measured: small_cnn after 2 epochs of 20k Fashion-MNIST
# images scored 61% in inference mode against 80% with 0.9).
BN_MOMENTUM = 0.9


def validate_width_multiplier(width_multiplier):
    """Checks that `width_multiplier` is a positive number."""
    if isinstance(width_multiplier, bool) or not isinstance(
        width_multiplier, (int, float)
    ):
        raise TypeError(
            "Invalid type for argument `width_multiplier`. Expected a "
            f"positive float. Received: width_multiplier={width_multiplier!r}"
        )
    if not (width_multiplier > 0 and math.isfinite(width_multiplier)):
        raise ValueError(
            "Invalid value for argument `width_multiplier`. Expected a "
            f"positive float. Received: width_multiplier={width_multiplier}"
        )


def validate_num_classes(num_classes):
    """Checks that `num_classes` is an int >= 2."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(
            "Invalid type for argument `num_classes`. Expected an int >= 2. "
            f"Received: num_classes={num_classes!r}"
        )
    if num_classes < 2:
        raise ValueError(
            "Invalid value for argument `num_classes`. Expected an int >= 2. "
            f"Received: num_classes={num_classes}"
        )


def validate_input_shape(input_shape, rank, min_size=1):
    """Checks `input_shape` has `rank` positive dims, spatial >= `min_size`.

    Returns:
        The shape as a tuple of ints.
    """
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
    ok = len(shape) == rank and all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
    )
    if not ok or any(d < min_size for d in shape[:-1]):
        raise ValueError(
            "Invalid value for argument `input_shape`. Expected "
            f"{rank} positive ints with spatial sizes >= {min_size}. "
            f"Received: input_shape={input_shape!r}"
        )
    return shape


def scaled(channels, width_multiplier, divisor=1, minimum=1):
    """Returns `channels * width_multiplier`, rounded to `divisor`.

    Rounding never goes more than 10% below the exact product, as in
    MobileNet; the result is at least `minimum`.
    """
    exact = channels * width_multiplier
    value = max(minimum, int(exact + divisor / 2) // divisor * divisor)
    if value < 0.9 * exact:
        value += divisor
    return int(value)


def conv(filters, kernel_size, strides, name, rank=2):
    """A `"same"`-padded, bias-free, He-initialized Conv1D or Conv2D."""
    layer = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
    return layer(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=name,
    )


def conv_bn_relu(x, filters, kernel_size, strides, prefix, relu_max=None):
    """Conv (no bias) → BatchNorm → ReLU, named `prefix_conv/_bn/_relu`."""
    rank = 1 if len(x.shape) == 3 else 2
    x = conv(filters, kernel_size, strides, f"{prefix}_conv", rank)(x)
    return bn_relu(x, prefix, relu_max)


def bn_relu(x, prefix, relu_max=None):
    """BatchNorm → ReLU (capped at `relu_max`), named `prefix_bn/_relu`."""
    x = batch_norm(f"{prefix}_bn")(x)
    return keras.layers.ReLU(max_value=relu_max, name=f"{prefix}_relu")(x)


def batch_norm(name):
    """A `BatchNormalization` layer with the models' momentum."""
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


def classifier(x, num_classes, classifier_activation, name="logits"):
    """The final Dense layer; named `predictions` when it has a softmax."""
    if classifier_activation is not None:
        name = "predictions"
    return keras.layers.Dense(
        num_classes, activation=classifier_activation, name=name
    )(x)


def default_name(base, width_multiplier):
    """Returns `base`, suffixed `_w0_5` style when the width is not 1."""
    if width_multiplier == 1:
        return base
    return f"{base}_w{width_multiplier:g}".replace(".", "_")
