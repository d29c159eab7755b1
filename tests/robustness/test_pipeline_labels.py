"""`tfc.compress` takes classification labels only, scores them as the
head is scored, and names the heads of a model it cannot take."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.robustness import helpers
from tf_compact.pipeline.compress import compress

FAST = helpers.fast_compress()


def _x(n=64, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 8, 8, 1)).astype("f4")


def _quadrants(x):
    return x.reshape(len(x), 2, 4, 2, 4).mean(axis=(2, 4)).reshape(-1, 4)


def _model(width=4, activation=None):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    y = keras.layers.AveragePooling2D(4)(y)
    y = keras.layers.Flatten()(y)
    return keras.Model(inputs, keras.layers.Dense(width, activation)(y))


def _both_forms(x, y):
    return [(x, y), tf.data.Dataset.from_tensor_slices((x, y)).batch(16)]


@pytest.mark.parametrize("form", [0, 1], ids=["arrays", "dataset"])
@pytest.mark.parametrize(
    "activation, labels, words",
    [
        ("sigmoid", "boxes", "regression targets"),
        (None, "boxes", "regression targets"),
        ("softmax", "multi_hot", "multi-hot .* need a sigmoid head"),
        ("sigmoid", "class_ids", "ends in a sigmoid head: expected 0/1"),
    ],
)
def test_compress_refuses_labels_that_are_not_the_heads(
    activation, labels, words, form, tmp_path
):
    x = _x()
    rng = np.random.default_rng(1)
    y = {
        "boxes": rng.uniform(0.1, 0.9, size=(64, 4)).astype("f4"),
        "multi_hot": (_quadrants(x) > 0.5).astype("f4"),
        "class_ids": _quadrants(x).argmax(-1),
    }[labels]
    data = _both_forms(x, y)[form]
    with pytest.raises(ValueError, match=words):
        compress(_model(activation=activation), data, output_dir=str(tmp_path))


def test_two_heads_are_named_with_their_widths_and_activations(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(
        inputs,
        {
            "cls": keras.layers.Dense(3, name="cls")(inputs),
            "box": keras.layers.Dense(4, "sigmoid", name="box")(inputs),
        },
    )
    data = (np.zeros((8, 4), "f4"), np.zeros(8, "int64"))
    words = r"0 'box' \(4 units, sigmoid\), 1 'cls' \(3 units, logits"
    with pytest.raises(ValueError, match=words):
        compress(model, data, output_dir=str(tmp_path))


def test_a_multi_label_head_scores_the_same_in_keras_and_tflite(tmp_path):
    x = _x(128)
    y = (_quadrants(x) > 0.5).astype("f4")
    teacher = _model(activation="sigmoid")
    teacher.compile(
        keras.optimizers.Adam(0.02),
        loss="binary_crossentropy",
        metrics=["binary_accuracy"],
    )
    teacher.fit(x, y, epochs=20, batch_size=16, verbose=0)
    report = compress(
        teacher, (x, y), test_data=(x, y), output_dir=str(tmp_path), **FAST
    ).report
    keras_side = report["teacher"]["accuracy"]
    scores = teacher.evaluate(x, y, verbose=0, return_dict=True)
    expected = scores["binary_accuracy"]  # unit by unit, as reported
    assert keras_side == pytest.approx(expected, abs=1e-6)
    tflite = report["tflite"]["teacher_float32"]["accuracy"]
    assert tflite == pytest.approx(keras_side, abs=1e-6)


def test_binary_logits_in_zero_one_score_as_logits_on_both_sides(tmp_path):
    # Every logit is 0.3: class 1 for a logits head, whatever its range.
    x = _x(64)
    teacher = _model(width=1)
    head = teacher.layers[-1]
    head.kernel.assign(np.zeros(head.kernel.shape))
    head.bias.assign([0.3])
    y = np.ones(64, "f4")
    report = compress(
        teacher, (x, y), test_data=(x, y), output_dir=str(tmp_path), **FAST
    ).report
    assert report["teacher"]["accuracy"] == 1.0
    assert report["tflite"]["teacher_float32"]["accuracy"] == 1.0
