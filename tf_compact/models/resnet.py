"""CIFAR-style ResNet (He et al. 2016, section 4.2): depth 6n + 2."""

import keras

from tf_compact.models import common

STAGE_WIDTHS = (16, 32, 64)


def _validate_depth(depth):
    if isinstance(depth, bool) or not isinstance(depth, int):
        raise TypeError(
            "Invalid type for argument `depth`. Expected an int 6n + 2 "
            f"(20, 32, 44, 56, 110). Received: depth={depth!r}"
        )
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(
            "Invalid value for argument `depth`. Expected 6n + 2 with n >= 1 "
            f"(20, 32, 44, 56, 110). Received: depth={depth}"
        )


def _basic_block(x, filters, strides, prefix):
    shortcut = x
    y = common.conv(filters, 3, strides, f"{prefix}_conv1")(x)
    y = common.batch_norm(f"{prefix}_bn1")(y)
    y = keras.layers.ReLU(name=f"{prefix}_relu1")(y)
    y = common.conv(filters, 3, 1, f"{prefix}_conv2")(y)
    y = common.batch_norm(f"{prefix}_bn2")(y)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = common.conv(filters, 1, strides, f"{prefix}_shortcut_conv")(
            x
        )
        shortcut = common.batch_norm(f"{prefix}_shortcut_bn")(shortcut)
    y = keras.layers.Add(name=f"{prefix}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{prefix}_out")(y)


def resnet(
    depth=20,
    input_shape=(32, 32, 3),
    num_classes=10,
    width_multiplier=1.0,
    classifier_activation=None,
    name=None,
):
    """Builds a CIFAR-style ResNet of basic blocks as a Functional model.

    Three stages of `(depth - 2) / 6` basic blocks with 16, 32 and 64
    channels (times `width_multiplier`); the first block of stages 2 and 3
    downsamples by 2 with a 1x1 projection shortcut. ResNet-20 has about
    0.27M parameters. Layers are named `stem_conv`, `stage1_block0_conv1`,
    `stage2_block0_shortcut_conv`, `stage3_block2_add`, `gap`, `logits`.

    Args:
        depth: `6n + 2`: 20, 32, 44, 56 or 110. Defaults to `20`.
        input_shape: `(height, width, channels)`. Defaults to `(32, 32, 3)`.
        num_classes: Number of outputs. Defaults to `10`.
        width_multiplier: Scales every layer's channels (a "simplified
            teacher" student uses the same builder at a smaller width).
            Defaults to `1.0`.
        classifier_activation: Activation of the last layer; `None` outputs
            logits (compile with `from_logits=True`). Defaults to `None`.
        name: Model name; `None` gives `"resnet{depth}"`, suffixed with the
            width when it is not 1 (`"resnet20_w0_5"`). Defaults to `None`.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: If `depth` is not 6n + 2 or another argument is invalid.

    Example:

    ```python
    model = tf_compact.models.resnet(depth=20)
    student = tf_compact.models.resnet(depth=20, width_multiplier=0.5)
    ```
    """
    _validate_depth(depth)
    common.validate_width_multiplier(width_multiplier)
    common.validate_num_classes(num_classes)
    input_shape = common.validate_input_shape(input_shape, 3, min_size=4)
    blocks = (depth - 2) // 6
    inputs = keras.Input(shape=input_shape, name="image")
    width = common.scaled(STAGE_WIDTHS[0], width_multiplier)
    x = common.conv(width, 3, 1, "stem_conv")(inputs)
    x = common.batch_norm("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, channels in enumerate(STAGE_WIDTHS, start=1):
        filters = common.scaled(channels, width_multiplier)
        for block in range(blocks):
            strides = 2 if stage > 1 and block == 0 else 1
            x = _basic_block(x, filters, strides, f"stage{stage}_block{block}")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = common.classifier(x, num_classes, classifier_activation)
    name = name or common.default_name(f"resnet{depth}", width_multiplier)
    return keras.Model(inputs, outputs, name=name)
