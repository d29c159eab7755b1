"""Tiny models and data shared by the distillation tests."""

import keras
import numpy as np
from keras import ops

NUM_CLASSES = 3


def conv_net(width, name, bn=True, regularizer=None, in_shape=(8, 8, 1)):
    """Two conv stages, GAP and a dense head; layers named alike."""
    inputs = keras.Input(in_shape, name="image")
    x = keras.layers.Conv2D(
        width,
        3,
        padding="same",
        name="c1",
        kernel_regularizer=regularizer,
    )(inputs)
    if bn:
        x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="r1")(x)
    x = keras.layers.MaxPooling2D(name="p1")(x)
    x = keras.layers.Conv2D(2 * width, 3, padding="same", name="c2")(x)
    x = keras.layers.ReLU(name="r2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def pair(student_width=4, bn=True):
    """Returns a (teacher, student) pair; the student is narrower."""
    return conv_net(8, "teacher", bn=bn), conv_net(student_width, "student")


def data(n=16, seed=0):
    """Returns random images and integer labels."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, n)
    return x, y


def compile_distiller(distiller, lr=0.01, **kwargs):
    """Compiles with SGD and sparse cross-entropy on logits."""
    distiller.compile(
        optimizer=keras.optimizers.SGD(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        **kwargs,
    )
    return distiller


def weights_of(model):
    """Returns copies of all of a model's weights (BN statistics included)."""
    return [np.array(w) for w in model.get_weights()]


class L1Stand(keras.layers.Layer):
    """Private stand-in for the sparsity issue's penalty.

    `penalty(model)` is `strength * Σ |kernel|` over the model's kernels;
    `strength` is a non-trainable variable so a callback could change it.
    """

    def __init__(self, strength=0.01, **kwargs):
        super().__init__(**kwargs)
        self.strength = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(strength),
            trainable=False,
            name="strength",
        )

    def __call__(self, model):
        total = 0.0
        for layer in model.layers:
            kernel = getattr(layer, "kernel", None)
            if kernel is not None:
                total = total + ops.sum(ops.abs(kernel))
        return self.strength * total

    def get_config(self):
        config = super().get_config()
        config["strength"] = float(ops.convert_to_numpy(self.strength))
        return config


keras.saving.register_keras_serializable(package="tf_compact_tests")(L1Stand)
