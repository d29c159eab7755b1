"""Tiny models and data shared by the lite tests."""

import gzip
import os

import keras
import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def tiny_cnn(width=4, classes=3, softmax=True, name="tiny_cnn"):
    """Conv + BN + ReLU + GAP + Dense on 8x8x1 inputs."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(width, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.ReLU(name="relu"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(
                classes,
                activation="softmax" if softmax else None,
                name="logits",
            ),
        ],
        name=name,
    )


def wide_mlp(units=128, name="wide_mlp"):
    """A model whose weights dominate the file size (for size tests)."""
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(units, activation="relu", name="d1"),
            keras.layers.Dense(units, activation="relu", name="d2"),
            keras.layers.Dense(10, name="out"),
        ],
        name=name,
    )


def images(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, 8, 8, 1)).astype(np.float32)


def int8_tflite(model, **kwargs):
    """`model` converted to full int8, calibrated on `images(16)`, not
    verified; `kwargs` go to `tfc.lite.convert`."""
    import tf_compact as tfc

    return tfc.lite.convert(
        model,
        "int8",
        representative_data=images(16),
        verify=False,
        **kwargs,
    )


def labels_for(x):
    """A learnable 2-class labelling of `images`."""
    return (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.int32)


def has_fashion_mnist():
    return os.path.isfile(
        os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz")
    )


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    ]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(split):
    """Returns `(x, y)`: x float32 in [0, 1], shape (n, 28, 28, 1)."""
    prefix = "train" if split == "train" else "t10k"
    x = _read_idx(os.path.join(FASHION_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    y = _read_idx(os.path.join(FASHION_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    return (x[..., None] / 255.0).astype(np.float32), y.astype(np.int32)
