"""A 1-D CNN for windows of sensor or audio signals."""

import keras

from tf_compact.models import common

DEFAULT_FILTERS = (32, 64, 128)


def _validate_filters(filters):
    ok = isinstance(filters, (list, tuple)) and len(filters) > 0
    if not ok or not all(
        isinstance(f, int) and not isinstance(f, bool) and f > 0
        for f in filters
    ):
        raise ValueError(
            "Invalid value for argument `filters`. Expected a non-empty "
            f"sequence of positive ints. Received: filters={filters!r}"
        )


def conv1d_net(
    input_shape=(128, 3),
    num_classes=6,
    width_multiplier=1.0,
    filters=DEFAULT_FILTERS,
    kernel_size=5,
    classifier_activation=None,
    name=None,
):
    """Builds a Conv1D network for sensor signals (accelerometer, audio).

    Input is a window of `(timesteps, channels)`, e.g. 128 samples of a
    3-axis accelerometer (the UCI-HAR layout, 6 activities). Each block is
    Conv1D + BatchNorm + ReLU + MaxPooling1D(2) (the last block has no
    pooling); the head is global average pooling and a Dense classifier.
    Layers are named `block1_conv`, `block1_bn`, `block1_relu`,
    `block1_pool`, `gap`, `logits`.

    Args:
        input_shape: `(timesteps, channels)`. Defaults to `(128, 3)`.
        num_classes: Number of outputs. Defaults to `6`.
        width_multiplier: Scales every block's filters. Defaults to `1.0`.
        filters: Filters of each block before scaling. Defaults to
            `(32, 64, 128)`.
        kernel_size: Temporal kernel size. Defaults to `5`.
        classifier_activation: Activation of the last layer; `None` outputs
            logits. Defaults to `None`.
        name: Model name; `None` gives `"conv1d_net"`, suffixed with the width
            when it is not 1 (`"conv1d_net_w0_5"`). Defaults to `None`.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: If the window is too short for the poolings or an
            argument is invalid.

    Example:

    ```python
    model = tf_compact.models.conv1d_net(input_shape=(16000, 1),
                                         num_classes=12)
    ```
    """
    common.validate_width_multiplier(width_multiplier)
    common.validate_num_classes(num_classes)
    _validate_filters(filters)
    if (
        isinstance(kernel_size, bool)
        or not isinstance(kernel_size, int)
        or kernel_size < 1
    ):
        raise ValueError(
            "Invalid value for argument `kernel_size`. Expected a positive "
            f"int. Received: kernel_size={kernel_size!r}"
        )
    min_size = 2 ** (len(filters) - 1)
    input_shape = common.validate_input_shape(input_shape, 2, min_size)
    inputs = keras.Input(shape=input_shape, name="signal")
    x = inputs
    for b, base in enumerate(filters, start=1):
        width = common.scaled(base, width_multiplier)
        x = common.conv_bn_relu(x, width, kernel_size, 1, f"block{b}")
        if b < len(filters):
            x = keras.layers.MaxPooling1D(2, name=f"block{b}_pool")(x)
    x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    outputs = common.classifier(x, num_classes, classifier_activation)
    name = name or common.default_name("conv1d_net", width_multiplier)
    return keras.Model(inputs, outputs, name=name)
