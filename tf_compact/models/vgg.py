"""A VGG-style network with a Flatten → Dense → Dense head."""

import keras

from tf_compact.models import common

DEFAULT_BLOCKS = ((32, 32), (64, 64), (128,))


def _validate_blocks(blocks):
    ok = isinstance(blocks, (list, tuple)) and len(blocks) > 0
    ok = ok and all(
        isinstance(b, (list, tuple))
        and len(b) > 0
        and all(
            isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in b
        )
        for b in blocks
    )
    if not ok:
        raise ValueError(
            "Invalid value for argument `blocks`. Expected a non-empty "
            "sequence of non-empty sequences of positive ints (channels of "
            f"each conv, per pooling block). Received: blocks={blocks!r}"
        )


def vgg(
    input_shape=(28, 28, 1),
    num_classes=10,
    width_multiplier=1.0,
    blocks=DEFAULT_BLOCKS,
    dense_units=256,
    batch_norm=True,
    classifier_activation=None,
    name=None,
):
    """Builds a VGG-style CNN with a Flatten + Dense head.

    Each block is a run of 3x3 Conv (+ BatchNorm) + ReLU layers followed by
    a 2x2 max pooling; the head is Flatten → Dense(`dense_units`, ReLU) →
    Dense(`num_classes`). This is the "before lightening" teacher: its
    heavy Flatten+Dense head is what a GAP head replaces. Layers are named
    `block1_conv1`, `block1_bn1`, `block1_relu1`, `block1_pool`, `head_flatten`,
    `fc1`, `fc1_relu`, `logits`.

    Args:
        input_shape: `(height, width, channels)`. Defaults to `(28, 28, 1)`.
        num_classes: Number of outputs. Defaults to `10`.
        width_multiplier: Scales conv channels and `dense_units`. Defaults
            to `1.0`.
        blocks: Channels of each conv, one tuple per pooling block.
            Defaults to `((32, 32), (64, 64), (128,))`.
        dense_units: Units of the hidden Dense layer. Defaults to `256`.
        batch_norm: Put a BatchNormalization after every conv. Defaults to
            `True`.
        classifier_activation: Activation of the last layer; `None` outputs
            logits. Defaults to `None`.
        name: Model name; `None` gives `"vgg"`, suffixed with the width
            when it is not 1 (`"vgg_w0_5"`). Defaults to `None`.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: If the input is too small for the number of poolings or
            an argument is invalid.

    Example:

    ```python
    teacher = tf_compact.models.vgg()
    cifar_teacher = tf_compact.models.vgg(input_shape=(32, 32, 3))
    ```
    """
    common.validate_width_multiplier(width_multiplier)
    common.validate_num_classes(num_classes)
    _validate_blocks(blocks)
    min_size = 2 ** len(blocks)
    input_shape = common.validate_input_shape(input_shape, 3, min_size)
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for b, convs in enumerate(blocks, start=1):
        for c, channels in enumerate(convs, start=1):
            filters = common.scaled(channels, width_multiplier)
            x = keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                use_bias=not batch_norm,
                kernel_initializer="he_normal",
                name=f"block{b}_conv{c}",
            )(x)
            if batch_norm:
                x = common.batch_norm(f"block{b}_bn{c}")(x)
            x = keras.layers.ReLU(name=f"block{b}_relu{c}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = keras.layers.Flatten(name="head_flatten")(x)
    units = common.scaled(dense_units, width_multiplier)
    x = keras.layers.Dense(units, name="fc1")(x)
    x = keras.layers.ReLU(name="fc1_relu")(x)
    outputs = common.classifier(x, num_classes, classifier_activation)
    name = name or common.default_name("vgg", width_multiplier)
    return keras.Model(inputs, outputs, name=name)
