"""What an interpreter accuracy scores: the label formats it reads, the
ones it refuses, per-unit (multi-label) and per-pixel scoring."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tf_compact.internal import label_values


def _tflite(model):
    return bytes(tfc.lite.convert(model, verify=False))


def _dense(width, activation, inputs=4, seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((inputs,))
    return keras.Model(x, keras.layers.Dense(width, activation=activation)(x))


def _x(n=64, inputs=4, seed=1):
    return np.random.default_rng(seed).normal(size=(n, inputs)).astype("f4")


@pytest.mark.parametrize(
    "labels, width, expected",
    [
        (np.array([0, 2, 1]), 3, "indices"),
        (np.array([[0], [2]]), 3, "indices"),
        (np.eye(3), 3, "rows"),
        (np.array([[0.2, 0.8], [0.5, 0.5]]), 2, "rows"),
        (np.array([[1, 1, 0], [0, 0, 0]]), 3, "multi_hot"),
        (np.array([0.0, 0.3, 1.0]), 1, "binary"),
    ],
)
def test_label_format_reads_each_classification_format(labels, width, expected):
    assert label_values.label_format(labels, width) == expected


@pytest.mark.parametrize(
    "labels, width, words",
    [
        (np.array([[0.19, 0.19, 0.53, 0.53]]), 4, "regression targets"),
        (np.array([[1.5, -0.2, 0.0]]), 3, "regression targets"),
        (np.array([0.5, 1.0]), 3, "whole numbers"),
        (np.array([0, 3]), 3, r"\[0, 2\]"),
        (np.array([0.0, 2.0]), 1, r"\[0, 1\]"),
        (np.zeros((2, 5)), 3, r"shape \(2, 5\)"),
    ],
)
def test_label_format_refuses_what_is_not_a_class_label(labels, width, words):
    with pytest.raises(label_values.LabelValueError, match=words):
        label_values.label_format(labels, width)


def test_regression_targets_get_no_accuracy():
    model = _dense(4, "sigmoid")
    x = _x()
    boxes = np.random.default_rng(2).uniform(0, 1, size=(64, 4)).astype("f4")
    tflite = _tflite(model)
    with pytest.raises(ValueError, match="regression targets"):
        tfc.lite.accuracy_of(tflite, (x, boxes))
    batched = tf.data.Dataset.from_tensor_slices((x, boxes)).batch(16)
    with pytest.raises(ValueError, match="regression targets"):
        tfc.lite.accuracy_of(tflite, batched)
    with pytest.raises(ValueError, match="regression targets"):
        tfc.lite.benchmark(tflite, runs=1, warmup=0, dataset=(x, boxes))


@pytest.mark.parametrize("activation", ["sigmoid", None])
def test_multi_hot_labels_are_scored_unit_by_unit_as_keras_does(activation):
    model = _dense(5, activation)
    x = _x()
    y = (np.random.default_rng(3).random((64, 5)) < 0.4).astype("f4")
    threshold = 0.5 if activation else 0.0
    keras_accuracy = keras.metrics.BinaryAccuracy(threshold=threshold)
    keras_accuracy.update_state(y, model.predict(x, verbose=0))
    tflite = _tflite(model)
    got = tfc.lite.accuracy_of(tflite, (x, y))
    assert got == pytest.approx(float(keras_accuracy.result()), abs=1e-6)
    # One-hot rows of a sigmoid head: unit by unit when asked to.
    one_hot = np.eye(5, dtype="f4")[np.arange(64) % 5]
    keras_accuracy.reset_state()
    keras_accuracy.update_state(one_hot, model.predict(x, verbose=0))
    forced = tfc.lite.accuracy_of(tflite, (x, one_hot), multi_label=True)
    assert forced == pytest.approx(float(keras_accuracy.result()), abs=1e-6)
    top1 = tfc.lite.accuracy_of(tflite, (x, one_hot))
    pred = model.predict(x, verbose=0).argmax(-1)
    assert top1 == pytest.approx(np.mean(pred == np.arange(64) % 5))


def _per_pixel_model(classes=3):
    keras.utils.set_random_seed(0)
    x = keras.Input((6, 6, 2))
    y = keras.layers.Conv2D(classes, 3, padding="same")(x)
    return keras.Model(x, keras.layers.Softmax()(y))


@pytest.mark.parametrize("layout", ["indices", "column", "one_hot"])
def test_per_pixel_outputs_are_scored_per_position(layout):
    model = _per_pixel_model()
    rng = np.random.default_rng(4)
    x = rng.normal(size=(8, 6, 6, 2)).astype("f4")
    masks = rng.integers(0, 3, size=(8, 6, 6))
    weights = rng.uniform(0.5, 2.0, size=8).astype("f4")
    hits = model.predict(x, verbose=0).argmax(-1) == masks
    expected = np.sum(hits * weights[:, None, None]) / (weights.sum() * 36)
    labels = {
        "indices": masks,
        "column": masks[..., None],
        "one_hot": np.eye(3, dtype="f4")[masks],
    }[layout]
    tflite = _tflite(model)
    got = tfc.lite.accuracy_of(tflite, (x, labels, weights))
    assert got == pytest.approx(expected, abs=1e-6)


def test_per_pixel_labels_of_another_size_are_refused():
    tflite = _tflite(_per_pixel_model())
    x = np.zeros((2, 6, 6, 2), "f4")
    words = r"Received: labels of shape \(2, 3, 3\)"
    with pytest.raises(ValueError, match=words):
        tfc.lite.accuracy_of(tflite, (x, np.zeros((2, 3, 3), "int64")))


def test_a_regression_model_gets_no_argmax_agreement():
    keras.utils.set_random_seed(0)
    x = keras.Input((6, 6, 3))
    model = keras.Model(x, keras.layers.Conv2D(3, 1)(x))
    model.compile("adam", loss="mse")
    data = np.random.default_rng(0).normal(size=(8, 6, 6, 3)).astype("f4")
    result = tfc.lite.convert(model, representative_data=data)
    assert result.argmax_agreement is None
    assert result.max_abs_diff is not None
    assert any("regression loss 'mse'" in note for note in result.notes)


def test_binary_logits_in_zero_one_are_scored_as_logits_when_told():
    # Every logit is 0.3 (> 0: class 1): by range alone it reads as a
    # probability below 0.5. The Keras model's head, or from_logits, says.
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(1, bias_initializer="ones")(x))
    model.layers[-1].bias.assign([0.3])
    model.layers[-1].kernel.assign(np.zeros((4, 1)))
    data = (_x(), np.ones(64, "int64"))
    tflite = _tflite(model)
    assert tfc.lite.accuracy_of(tflite, data) == 0.0
    assert tfc.lite.accuracy_of(tflite, data, from_logits=True) == 1.0
    assert tfc.lite.benchmark(model, runs=1, dataset=data).accuracy == 1.0
    sigmoid = keras.Model(x, keras.layers.Activation("sigmoid")(model(x)))
    assert tfc.lite.benchmark(sigmoid, runs=1, dataset=data).accuracy == 1.0
    assert tfc.lite.accuracy_of(tflite, data, from_logits=False) == 0.0
