"""MobileNetV2 for small inputs (CIFAR-sized images)."""

import keras

from tf_compact.models import common

# (expansion t, output channels c, repeats n, first stride s), as in the
# paper; the stem and the first two strides are 1 for 32x32 inputs.
BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _inverted_residual(x, expansion, filters, strides, prefix):
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = keras.layers.Conv2D(
            in_channels * expansion,
            1,
            use_bias=False,
            name=f"{prefix}_expand",
        )(y)
        y = common.bn_relu(y, f"{prefix}_expand", relu_max=6.0)
    y = keras.layers.DepthwiseConv2D(
        3,
        strides=strides,
        padding="same",
        use_bias=False,
        name=f"{prefix}_depthwise",
    )(y)
    y = common.bn_relu(y, f"{prefix}_depthwise", relu_max=6.0)
    y = keras.layers.Conv2D(
        filters, 1, use_bias=False, name=f"{prefix}_project"
    )(y)
    y = common.batch_norm(f"{prefix}_project_bn")(y)
    if strides == 1 and in_channels == filters:
        y = keras.layers.Add(name=f"{prefix}_add")([x, y])
    return y


def mobilenet_v2(
    input_shape=(32, 32, 3),
    num_classes=10,
    width_multiplier=1.0,
    last_channels=1280,
    classifier_activation=None,
    name=None,
):
    """Builds MobileNetV2 adapted to small inputs.

    The inverted-residual blocks of Sandler et al. (2018), with the stem and
    the first two downsamplings at stride 1 so a 32x32 image ends at 4x4.
    Blocks whose input and output match add a residual (`Add`). Channels
    are scaled by `width_multiplier` and rounded to multiples of 8. Layers
    are named `stem_conv`, `block3_expand`, `block3_depthwise`,
    `block3_project`, `block3_add`, `head_conv`, `gap`, `logits`.

    Args:
        input_shape: `(height, width, channels)`. Defaults to `(32, 32, 3)`.
        num_classes: Number of outputs. Defaults to `10`.
        width_multiplier: Scales every layer's channels (the last conv is
            scaled only when the multiplier exceeds 1, as in the paper).
            Defaults to `1.0`.
        last_channels: Channels of the final 1x1 conv. Defaults to `1280`.
        classifier_activation: Activation of the last layer; `None` outputs
            logits. Defaults to `None`.
        name: Model name; `None` gives `"mobilenet_v2"`, suffixed with the
            width when it is not 1 (`"mobilenet_v2_w0_5"`). Defaults to
            `None`.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: If an argument is invalid.

    Example:

    ```python
    model = tf_compact.models.mobilenet_v2(width_multiplier=0.5)
    ```
    """
    common.validate_width_multiplier(width_multiplier)
    common.validate_num_classes(num_classes)
    input_shape = common.validate_input_shape(input_shape, 3, min_size=8)
    inputs = keras.Input(shape=input_shape, name="image")
    stem = common.scaled(32, width_multiplier, divisor=8, minimum=8)
    x = common.conv_bn_relu(inputs, stem, 3, 1, "stem", relu_max=6.0)
    index = 0
    for expansion, channels, repeats, stride in BLOCKS:
        filters = common.scaled(channels, width_multiplier, 8, minimum=8)
        for r in range(repeats):
            strides = stride if r == 0 else 1
            x = _inverted_residual(
                x, expansion, filters, strides, f"block{index}"
            )
            index += 1
    head = last_channels
    if width_multiplier > 1.0:
        head = common.scaled(last_channels, width_multiplier, 8)
    x = common.conv_bn_relu(x, head, 1, 1, "head", relu_max=6.0)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = common.classifier(x, num_classes, classifier_activation)
    name = name or common.default_name("mobilenet_v2", width_multiplier)
    return keras.Model(inputs, outputs, name=name)
