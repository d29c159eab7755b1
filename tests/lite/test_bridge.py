"""Keras 3 -> tf_keras clone bridge."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.lite import helpers


def _assert_same_outputs(model, clone, x):
    want = np.asarray(model(x, training=False))
    got = np.asarray(clone(x, training=False))
    assert np.std(want) > 0
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_tiny_cnn_clone_matches():
    model = helpers.tiny_cnn(softmax=False)
    x = helpers.images(8)
    clone = tfc.lite.to_tf_keras(model)
    assert type(clone).__module__.startswith("tf_keras")
    assert [layer.name for layer in clone.layers][1:] == [
        layer.name for layer in model.layers
    ]
    _assert_same_outputs(model, clone, x)


def test_nested_model_is_inlined():
    inner = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(5, name="inner_dense")],
        name="inner",
    )
    inputs = keras.Input((4,))
    hidden = keras.layers.ReLU(name="act")(inner(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))
    clone = tfc.lite.to_tf_keras(model)
    names = [layer.name for layer in clone.layers]
    assert "inner_dense" in names and "inner" not in names
    x = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    _assert_same_outputs(model, clone, x)


def test_residual_add_and_regularizer_survive():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(
        2,
        3,
        padding="same",
        kernel_regularizer=keras.regularizers.L2(1e-3),
        name="conv",
    )(inputs)
    x = keras.layers.Add(name="add")([x, inputs])
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    clone = tfc.lite.to_tf_keras(model)
    assert clone.get_layer("conv").kernel_regularizer is not None
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 2)).astype("float32")
    _assert_same_outputs(model, clone, x)


class _Custom(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def _dense_bn(activation=None, second_consumer=False):
    inputs = keras.Input((8, 8, 1))
    flat = keras.layers.Flatten()(inputs)
    fc = keras.layers.Dense(6, activation=activation, name="fc")(flat)
    bn = keras.layers.BatchNormalization(name="fc_bn")(fc)
    hidden = keras.layers.ReLU(name="relu")(bn)
    if second_consumer:
        hidden = keras.layers.Concatenate()([hidden, fc])
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(hidden))
    rng = np.random.default_rng(0)
    bn_layer = model.get_layer("fc_bn")
    bn_layer.set_weights(
        [rng.uniform(0.5, 2, 6), rng.normal(size=6), rng.normal(size=6)]
        + [rng.uniform(0.1, 3, 6)]
    )
    return model


def test_a_batch_norm_after_a_linear_dense_folds_into_it():
    model = _dense_bn()
    clone = tfc.lite.to_tf_keras(model, fold_dense_batch_norms=True)
    names = [layer.name for layer in clone.layers]
    assert "fc" in names and "fc_bn" not in names
    _assert_same_outputs(model, clone, helpers.images(8))
    unfolded = tfc.lite.to_tf_keras(model)
    assert "fc_bn" in [layer.name for layer in unfolded.layers]
    # A Dense with an activation, or one feeding two layers, keeps its BN.
    for other in (_dense_bn("relu"), _dense_bn(second_consumer=True)):
        clone = tfc.lite.to_tf_keras(other, fold_dense_batch_norms=True)
        assert "fc_bn" in [layer.name for layer in clone.layers]
        _assert_same_outputs(other, clone, helpers.images(8))


def test_custom_layer_is_named_in_the_error():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, _Custom(name="doubler")(inputs))
    with pytest.raises(tfc.lite.BridgeError, match="'doubler'.*_Custom"):
        tfc.lite.to_tf_keras(model)


def test_raw_ops_call_is_an_error():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.ops.exp(keras.layers.Dense(2)(inputs)))
    with pytest.raises(tfc.lite.BridgeError, match="keras.ops"):
        tfc.lite.to_tf_keras(model)


def test_not_a_keras3_model():
    with pytest.raises(TypeError, match="Received: type=int"):
        tfc.lite.to_tf_keras(3)


def _resnet20(input_shape=(32, 32, 3), classes=10):
    def block(x, filters, stride):
        shortcut = x
        y = keras.layers.Conv2D(filters, 3, stride, "same", use_bias=False)(x)
        y = keras.layers.BatchNormalization()(y)
        y = keras.layers.ReLU()(y)
        y = keras.layers.Conv2D(filters, 3, 1, "same", use_bias=False)(y)
        y = keras.layers.BatchNormalization()(y)
        if stride != 1 or shortcut.shape[-1] != filters:
            shortcut = keras.layers.Conv2D(filters, 1, stride)(shortcut)
        return keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            x = block(x, filters, stride if i == 0 else 1)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x), name="resnet20")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet20", "mobilenetv2", "efficientnetb0"])
def test_reference_architectures_bridge_and_quantize(name):
    builders = {
        "resnet20": lambda: _resnet20(),
        "mobilenetv2": lambda: keras.applications.MobileNetV2(
            input_shape=(64, 64, 3), weights=None, classes=10
        ),
        "efficientnetb0": lambda: keras.applications.EfficientNetB0(
            input_shape=(64, 64, 3), weights=None, classes=10
        ),
    }
    model = builders[name]()
    shape = model.inputs[0].shape[1:]
    x = np.random.default_rng(0).uniform(size=(2, *shape)).astype("float32")
    clone = tfc.lite.to_tf_keras(model)
    want = np.asarray(model(x, training=False))
    np.testing.assert_allclose(clone(x).numpy(), want, atol=1e-4)
    qat_model = tfc.lite.quantize_model(model)
    assert any(layer.name.startswith("quant_") for layer in qat_model.layers)
    tflite = tfc.lite.convert(qat_model, "qat", representative_data=x)
    report = tfc.lite.edgetpu_report(tflite)
    # Every op computes in int8; the only others do the int32 shape
    # arithmetic of a Reshape on the dynamic batch (EfficientNet's
    # squeeze-and-excite), which the report names as not static.
    others = {row["op"] for row in report.ops if not row["int8"]}
    assert others <= {"SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE"}
    assert not any("float" in row["dtypes"] for row in report.ops[1:-1])
    assert report.full_int8 == (not others)
