"""tfc.lite.convert on models built under a mixed-precision policy."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.lite import helpers

POLICIES = ("mixed_bfloat16", "mixed_float16")


@pytest.fixture(params=POLICIES)
def policy(request):
    """Sets the global dtype policy for the test, then restores it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    try:
        yield request.param
    finally:
        keras.config.set_dtype_policy(previous)


def _nested_model():
    inner = keras.Sequential(
        [
            keras.Input((6, 6, 4)),
            keras.layers.Conv2D(4, 3, activation="relu", name="inner_conv"),
        ],
        name="inner",
    )
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = inner(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name="nested")


@pytest.mark.parametrize("mode", ["float32", "float16", "int8"])
def test_every_mode_converts_a_mixed_precision_model(policy, mode):
    keras.utils.set_random_seed(0)
    model = helpers.tiny_cnn(softmax=False)
    assert model.layers[0].compute_dtype != "float32"
    x = helpers.images(16, seed=1)
    tflite = tfc.lite.convert(
        model,
        mode=mode,
        representative_data=x if mode == "int8" else None,
    )
    assert any("float32 copy" in note for note in tflite.notes)
    got = tfc.lite.predict(tflite, x)
    want = np.asarray(model(x, training=False), dtype=np.float32)
    scale = max(1.0, float(np.max(np.abs(want))))
    assert np.max(np.abs(got - want)) <= 0.1 * scale
    assert keras.config.dtype_policy().name == policy


def test_nested_model_is_converted_and_left_untouched(policy):
    keras.utils.set_random_seed(0)
    model = _nested_model()
    before = [w.copy() for w in model.get_weights()]
    policies = [
        layer.dtype_policy.name
        for layer in model._flatten_layers(include_self=True)
    ]
    tflite = tfc.lite.convert(model, mode="float32")
    assert tflite.max_abs_diff <= 1e-4
    assert tflite.path_used == "from_keras_model"
    assert policies == [
        layer.dtype_policy.name
        for layer in model._flatten_layers(include_self=True)
    ]
    assert policy in policies
    after = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_float32_model_gets_no_note():
    tflite = tfc.lite.convert(helpers.tiny_cnn(), mode="float32")
    assert not any("float32 copy" in note for note in tflite.notes)


class _Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        return self.dense(x)


def test_subclassed_mixed_model_gets_a_clear_error(policy):
    model = _Subclassed(name="sub")
    model(np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match="set_global_policy\\('float32'\\)"):
        tfc.lite.convert(model)
    assert keras.config.dtype_policy().name == policy


def test_qat_trains_a_float32_copy_of_a_mixed_precision_model(policy):
    x = helpers.images(48, seed=4)
    y = helpers.labels_for(x)
    model = helpers.tiny_cnn(classes=2)
    assert model.layers[0].compute_dtype != "float32"
    teacher = helpers.tiny_cnn(width=6, classes=2, name="teacher")
    tflite = tfc.lite.qat(model, (x, y), epochs=1, teacher=teacher)
    assert any("float32 copy" in note for note in tflite.notes)
    assert tflite.argmax_agreement >= 0.9
    assert model.layers[0].compute_dtype != "float32"
