"""A small, fast CNN teacher for 28x28 images (Fashion-MNIST, MNIST)."""

import keras

from tf_compact.models import common


def small_cnn(
    input_shape=(28, 28, 1),
    num_classes=10,
    width_multiplier=1.0,
    classifier_activation=None,
    name=None,
):
    """Builds a small residual CNN that trains quickly on a CPU.

    Conv-BN-ReLU blocks: a stem at full resolution, a stride-2 conv, one
    residual block (two 3x3 convs and an `Add`), a second stride-2 conv,
    then global average pooling and a Dense classifier. It is the default
    model of the README job: one Fashion-MNIST epoch takes seconds, not
    minutes, on two CPU cores. Layers are named `stem_conv`, `down1_conv`,
    `res_conv1`, `res_bn2`, `res_add`, `down2_conv`, `gap`, `logits`.

    Args:
        input_shape: `(height, width, channels)`. Defaults to `(28, 28, 1)`.
        num_classes: Number of outputs. Defaults to `10`.
        width_multiplier: Scales every layer's channels. Defaults to `1.0`.
        classifier_activation: Activation of the last layer; `None` outputs
            logits. Defaults to `None`.
        name: Model name; `None` gives `"small_cnn"`, suffixed with the width
            when it is not 1 (`"small_cnn_w0_5"`). Defaults to `None`.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: If an argument is invalid.

    Example:

    ```python
    bundle = tf_compact.data.builtin()
    teacher = tf_compact.models.small_cnn()
    teacher.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    teacher.fit(bundle.train, epochs=1)
    ```
    """
    common.validate_width_multiplier(width_multiplier)
    common.validate_num_classes(num_classes)
    input_shape = common.validate_input_shape(input_shape, 3, min_size=4)
    w = lambda c: common.scaled(c, width_multiplier)
    inputs = keras.Input(shape=input_shape, name="image")
    x = common.conv_bn_relu(inputs, w(16), 3, 1, "stem")
    x = common.conv_bn_relu(x, w(32), 3, 2, "down1")
    y = x
    for i in (1, 2):
        y = keras.layers.Conv2D(
            w(32),
            3,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            name=f"res_conv{i}",
        )(y)
        y = common.batch_norm(f"res_bn{i}")(y)
        if i == 1:
            y = keras.layers.ReLU(name="res_relu1")(y)
    x = keras.layers.Add(name="res_add")([y, x])
    x = keras.layers.ReLU(name="res_out")(x)
    x = common.conv_bn_relu(x, w(64), 3, 2, "down2")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = common.classifier(x, num_classes, classifier_activation)
    name = name or common.default_name("small_cnn", width_multiplier)
    return keras.Model(inputs, outputs, name=name)
