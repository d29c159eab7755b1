"""Classifiers as real users write them, from published keras-io examples.

Each builder follows the published architecture of one example; only the
input shape and the number of classes are parameters (the CCT also takes
its small width, depth and head settings). Output heads, augmentation
layers inside the model and custom layers are kept as the examples have
them, since those are what users feed to the library.

- `mnist_convnet`: keras-io "Simple MNIST convnet".
- `xception_like`: keras-io "Image classification from scratch"
  (`make_model`), with the `data_augmentation` block inside the model
  ("option 1") when `augmentation=True`.
- `timeseries_fcn`: keras-io "Timeseries classification from scratch".
- `speaker_resnet`: keras-io "Speaker recognition" Conv1D residual net.
- `cct`: keras-io "Compact Convolutional Transformers".
- `mobilenet_v2`: `keras.applications.MobileNetV2(alpha=0.35)`.
"""

import keras
import numpy as np

import tf_compact as tfc

# ---------------------------------------------------------------------------
# Image classifiers


def mnist_convnet(input_shape=(28, 28, 1), num_classes=10):
    """Conv 32 → pool → conv 64 → pool → flatten → dropout → softmax."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(num_classes, activation="softmax"),
        ],
        name="mnist_convnet",
    )


def xception_augmentation():
    """The example's augmentation block: horizontal flip, 10% rotation."""
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomRotation(0.1),
        ],
        name="data_augmentation",
    )


#: Block widths of the Xception-like net (entry conv, three residual
#: blocks, exit separable conv).
XCEPTION_WIDTHS = (128, (256, 512, 728), 1024)


def xception_like(
    input_shape=(32, 32, 3), num_classes=10, augmentation=False, width=1.0
):
    """The small Xception of "Image classification from scratch".

    Inputs are raw pixel values in [0, 255]: the model rescales them.
    `width` scales every channel count (1.0 is the published net).
    """
    entry, blocks, exit_width = XCEPTION_WIDTHS

    def w(n):
        return max(1, int(round(n * width)))

    inputs = keras.Input(shape=input_shape)
    x = inputs
    if augmentation:
        x = xception_augmentation()(x)
    # Entry block.
    x = keras.layers.Rescaling(1.0 / 255)(x)
    x = keras.layers.Conv2D(w(entry), 3, strides=2, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    previous_block_activation = x
    for size in blocks:
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.SeparableConv2D(w(size), 3, padding="same")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.SeparableConv2D(w(size), 3, padding="same")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)
        # Project the previous block's output to the new width.
        residual = keras.layers.Conv2D(w(size), 1, strides=2, padding="same")(
            previous_block_activation
        )
        x = keras.layers.add([x, residual])
        previous_block_activation = x
    x = keras.layers.SeparableConv2D(w(exit_width), 3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if num_classes == 2:
        activation, units = "sigmoid", 1
    else:
        activation, units = "softmax", num_classes
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(units, activation=activation)(x)
    return keras.Model(inputs, outputs, name="xception_like")


def mobilenet_v2(input_shape=(32, 32, 3), num_classes=10):
    """`keras.applications.MobileNetV2` at α 0.35 with its softmax head."""
    return keras.applications.MobileNetV2(
        input_shape=input_shape,
        alpha=0.35,
        weights=None,
        classes=num_classes,
    )


# ---------------------------------------------------------------------------
# Sequence classifiers


def timeseries_fcn(input_shape=(128, 1), num_classes=2):
    """Three Conv1D 64 (k 3) + BN + ReLU, global average pool, softmax."""
    input_layer = keras.Input(input_shape)
    x = input_layer
    for _ in range(3):
        x = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    gap = keras.layers.GlobalAveragePooling1D()(x)
    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)
    return keras.Model(inputs=input_layer, outputs=output_layer, name="fcn")


#: `(filters, convs)` of the speaker net's residual blocks.
SPEAKER_BLOCKS = ((16, 2), (32, 2), (64, 3), (128, 3), (128, 3))


def _speaker_block(x, filters, conv_num):
    shortcut = keras.layers.Conv1D(filters, 1, padding="same")(x)
    for _ in range(conv_num - 1):
        x = keras.layers.Conv1D(filters, 3, padding="same")(x)
        x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv1D(filters, 3, padding="same")(x)
    x = keras.layers.Add()([x, shortcut])
    x = keras.layers.Activation("relu")(x)
    return keras.layers.MaxPool1D(pool_size=2, strides=2)(x)


def speaker_resnet(input_shape=(256, 1), num_classes=4):
    """Five residual Conv1D blocks, average pool, two Dense, softmax."""
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for filters, conv_num in SPEAKER_BLOCKS:
        x = _speaker_block(x, filters, conv_num)
    x = keras.layers.AveragePooling1D(pool_size=3, strides=3)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(256, activation="relu")(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", name="output"
    )(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="speaker")


# ---------------------------------------------------------------------------
# Compact Convolutional Transformer


@keras.saving.register_keras_serializable(package="tf_compact_zoo")
class PositionEmbedding(keras.layers.Layer):
    """A learned embedding per token position, added to the tokens."""

    def __init__(self, sequence_length, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, input_shape[-1]),
            initializer="glorot_uniform",
        )

    def call(self, x):
        return x + self.embeddings

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length}


@keras.saving.register_keras_serializable(package="tf_compact_zoo")
class StochasticDepth(keras.layers.Layer):
    """Drops the whole residual branch of an example while training."""

    def __init__(self, drop_prob, **kwargs):
        super().__init__(**kwargs)
        self.drop_prob = float(drop_prob)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, x, training=None):
        if training:
            keep_prob = 1 - self.drop_prob
            shape = (keras.ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
            random_tensor = keep_prob + keras.random.uniform(
                shape, 0, 1, seed=self.seed_generator
            )
            return (x / keep_prob) * keras.ops.floor(random_tensor)
        return x

    def get_config(self):
        return {**super().get_config(), "drop_prob": self.drop_prob}


class _PositionEmbeddingHandler(tfc.graph.LayerHandler):
    # The embedding is added per channel, like a norm layer's bias.
    def propagate(self, ctx):
        space = ctx.inputs[0]
        ctx.bind("embeddings", -1, space, "norm")
        return [space]


def register_cct_handlers():
    """Tells the channel graph about the CCT's custom layers, as a user
    with these layers would (`tfc.register_handler`)."""
    tfc.register_handler(StochasticDepth, "passthrough")
    tfc.register_handler(PositionEmbedding, _PositionEmbeddingHandler())


#: The small CCT configuration used here.
CCT_CONFIG = {
    "conv_channels": (32, 64),
    "projection_dim": 64,
    "num_heads": 2,
    "transformer_layers": 2,
    "stochastic_depth_rate": 0.1,
}


def cct_augmentation(image_size):
    """The example's block: rescale, random crop, horizontal flip."""
    return keras.Sequential(
        [
            keras.layers.Rescaling(scale=1.0 / 255),
            keras.layers.RandomCrop(image_size, image_size),
            keras.layers.RandomFlip("horizontal"),
        ],
        name="data_augmentation",
    )


def cct_tokenizer(conv_channels):
    """Conv (no bias, ReLU) → zero pad 1 → max pool 3/2, per stage."""
    stages = []
    for channels in conv_channels:
        stages += [
            keras.layers.Conv2D(
                channels,
                3,
                1,
                padding="valid",
                use_bias=False,
                activation="relu",
                kernel_initializer="he_normal",
            ),
            keras.layers.ZeroPadding2D(1),
            keras.layers.MaxPooling2D(3, 2, padding="same"),
        ]
    return keras.Sequential(stages, name="cct_tokenizer")


def _mlp(x, hidden_units, dropout_rate):
    for units in hidden_units:
        x = keras.layers.Dense(units, activation=keras.activations.gelu)(x)
        x = keras.layers.Dropout(dropout_rate)(x)
    return x


def cct(input_shape=(28, 28, 1), num_classes=10, config=None):
    """Conv tokenizer, position embedding, transformer, sequence pooling.

    Inputs are raw pixel values in [0, 255]; the logits head is the
    example's (trained with one-hot labels and label smoothing).
    """
    c = {**CCT_CONFIG, **(config or {})}
    dim = c["projection_dim"]
    inputs = keras.Input(input_shape)
    x = cct_augmentation(input_shape[0])(inputs)
    x = cct_tokenizer(c["conv_channels"])(x)
    tokens = x.shape[1] * x.shape[2]
    encoded = keras.layers.Reshape((tokens, x.shape[-1]))(x)
    encoded = PositionEmbedding(tokens)(encoded)
    rates = np.linspace(0, c["stochastic_depth_rate"], c["transformer_layers"])
    for rate in rates:
        x1 = keras.layers.LayerNormalization(epsilon=1e-5)(encoded)
        attention = keras.layers.MultiHeadAttention(
            num_heads=c["num_heads"], key_dim=dim, dropout=0.1
        )(x1, x1)
        attention = StochasticDepth(rate)(attention)
        x2 = keras.layers.Add()([attention, encoded])
        x3 = keras.layers.LayerNormalization(epsilon=1e-5)(x2)
        x3 = _mlp(x3, hidden_units=(dim, dim), dropout_rate=0.1)
        x3 = StochasticDepth(rate)(x3)
        encoded = keras.layers.Add()([x3, x2])
    representation = keras.layers.LayerNormalization(epsilon=1e-5)(encoded)
    # Sequence pooling: attention weights over the tokens, then their
    # weighted sum.
    weights = keras.layers.Dense(1)(representation)
    weights = keras.ops.softmax(weights, axis=1)
    weights = keras.ops.transpose(weights, (0, 2, 1))
    pooled = keras.ops.matmul(weights, representation)
    pooled = keras.ops.squeeze(pooled, -2)
    logits = keras.layers.Dense(num_classes)(pooled)
    return keras.Model(inputs=inputs, outputs=logits, name="cct")
