"""A small Sequential CNN shared by the sparsity tests."""

import keras


def conv_model(filters=(4, 6), bn=True, classes=3, size=8):
    """A small Sequential CNN the stand-in understands."""
    layers = [keras.Input((size, size, 1))]
    for f in filters:
        layers.append(keras.layers.Conv2D(f, 3, padding="same"))
        if bn:
            layers.append(keras.layers.BatchNormalization())
        layers.append(keras.layers.ReLU())
    layers += [
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(classes),
    ]
    return keras.Sequential(layers)
