"""The cross-entropy of `SparsityController`'s gap follows the model's head."""

import keras
import numpy as np

from tf_compact.callbacks import gap_scores as scores


def _model(activation):
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(5, activation=activation)(inputs)
    return keras.Model(inputs, outputs)


def test_float16_softmax_rows_are_probabilities():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(64, 5))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    pred = probabilities.astype("float16")
    pred[0] *= np.float16(1.004)  # a float16 row that misses 1 by > 1e-3
    y = rng.integers(0, 5, 64)
    expected = keras.losses.SparseCategoricalCrossentropy()(
        y, pred.astype("float32")
    )
    got = scores.score(pred, y, "loss", _model("softmax"))
    assert abs(got - float(expected)) < 1e-3


def test_logits_that_look_like_probabilities_stay_logits():
    pred = np.full((8, 5), 0.1, dtype="float32")
    pred[:, 0] = 0.6  # rows summing to 1, but the head is linear
    y = np.zeros(8, dtype="int64")
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        y, pred
    )
    got = scores.score(pred, y, "loss", _model(None))
    assert abs(got - float(expected)) < 1e-5
    assert abs(got + np.log(0.6)) > 0.5  # not read as probabilities
