"""Tiny models and data shared by the callback tests."""

import keras
import numpy as np

import tf_compact as tfc


def conv_model(filters=(8, 16), classes=3, size=8, name=None):
    """A small Sequential CNN with BN, logits output."""
    layers = [keras.Input((size, size, 1))]
    for i, f in enumerate(filters):
        strides = 1 if i == 0 else 2
        layers.append(keras.layers.Conv2D(f, 3, strides, padding="same"))
        layers.append(keras.layers.BatchNormalization())
        layers.append(keras.layers.ReLU())
    layers += [
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(classes),
    ]
    return keras.Sequential(layers, name=name)


def data(n=64, classes=3, size=8, seed=0):
    """Random images whose class is the sign pattern of two pixels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size, size, 1)).astype("float32")
    y = ((x[:, 0, 0, 0] > 0).astype("int64") + (x[:, 1, 1, 0] > 0)) % classes
    return x, y


def sparsifier(model=None, strength=1e-3, proximal=True, lr=0.01, **kw):
    """A compiled `tfc.Sparsifier` around `model` (a new one by default)."""
    model = model or conv_model()
    penalty = tfc.GroupLasso(strength=strength, proximal=proximal, **kw)
    trainer = tfc.Sparsifier(model, sparsity=penalty)
    trainer.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return trainer
