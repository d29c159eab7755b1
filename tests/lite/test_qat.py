"""Quantization-aware training through the tfmot bridge."""

import os

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.lite import helpers
from tf_compact.lite import qat_annotate


@pytest.fixture(scope="module")
def data():
    x = helpers.images(96, seed=3)
    return x, helpers.labels_for(x)


def test_plain_qat_gives_full_int8(data):
    x, y = data
    model = helpers.tiny_cnn(classes=2)
    before = [w.copy() for w in model.get_weights()]
    tflite = tfc.lite.qat(
        model, (x, y), epochs=1, validation_data=(x, y), inference_io="uint8"
    )
    assert tflite.mode == "qat"
    assert len(tflite.history["loss"]) == 1
    assert 0.0 <= tflite.history["val_accuracy"][0] <= 1.0
    assert tflite.argmax_agreement >= 0.9
    report = tfc.lite.edgetpu_report(tflite)
    # Every op is int8; the one thing left for the Edge TPU is the dynamic
    # batch, which convert(target="edgetpu") fixes.
    assert report.full_int8, report.table()
    assert {f.rule for f in report.errors} == {"static_shape"}
    after = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_distillation_qat_matches_features(data):
    x, y = data
    model = helpers.tiny_cnn(classes=2)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    tflite = tfc.lite.qat(model, (x, y), epochs=2, teacher=model)
    assert "distilled features: ['relu']" in tflite.notes
    assert len(tflite.history["loss"]) == 2
    assert all(np.isfinite(tflite.history["loss"]))


def test_auto_features_leave_out_maps_a_pruned_student_narrowed(data):
    # Same layer names, half the channels: no feature map matches, the
    # logits are distilled alone (the maps' shapes used to meet in the loss).
    x, y = data
    teacher = helpers.tiny_cnn(width=8, classes=2)
    student = helpers.tiny_cnn(width=4, classes=2)
    tflite = tfc.lite.qat(student, (x, y), epochs=1, teacher=teacher)
    assert "distilled features: []" in tflite.notes
    assert np.isfinite(tflite.history["loss"][0])


def test_explicit_feature_layers_are_checked(data):
    x, y = data
    model = helpers.tiny_cnn(classes=2)
    with pytest.raises(ValueError, match="'nope'"):
        tfc.lite.qat(
            model, (x, y), epochs=0, teacher=model, feature_layers=["nope"]
        )


def test_keras3_still_works_after_qat(data):
    x, y = data
    before = os.environ.get("TF_USE_LEGACY_KERAS")
    tfc.lite.quantize_model(helpers.tiny_cnn())
    assert os.environ.get("TF_USE_LEGACY_KERAS") == before
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(True))
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert isinstance(model, keras.Model)
    assert len(tfc.lite.convert(model)) > 0


def test_quantize_model_then_user_training_then_convert(data):
    x, y = data
    qat_model = tfc.lite.quantize_model(helpers.tiny_cnn(classes=2))
    qat_model.compile("adam", "sparse_categorical_crossentropy")
    qat_model.fit(x, y, epochs=1, verbose=0)
    tflite = tfc.lite.convert(qat_model, mode="qat", inference_io="int8")
    assert tfc.lite.edgetpu_report(tflite).full_int8
    assert tflite.argmax_agreement >= 0.9


def test_invalid_epochs(data):
    with pytest.raises(ValueError, match="epochs=-1"):
        tfc.lite.qat(helpers.tiny_cnn(), data, epochs=-1)


def test_qat_keeps_an_adapted_normalization():
    """tfmot copies the weights into its own clone; the mean and variance
    an adapted Normalization divides by are recomputed from them."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 255.0, (64, 12, 12, 3)).astype("float32")
    norm = keras.layers.Normalization(name="norm")
    norm.adapt(x)
    inputs = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(8, 3, activation="relu")(norm(inputs))
    h = keras.layers.Flatten()(h)
    model = keras.Model(inputs, keras.layers.Dense(4)(h))
    expected = np.asarray(model(x, training=False))
    tflite = tfc.lite.qat(
        model, (x, expected.argmax(-1)), epochs=1, learning_rate=0.0
    )
    got = tfc.lite.predict(tflite, x)
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() < 0.1 * scale
    assert (got.argmax(-1) == expected.argmax(-1)).mean() >= 0.9


def test_preprocessing_layers_outside_tfmot_registry_are_quantized():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    x = keras.layers.Normalization(mean=0.5, variance=0.25, name="norm")(x)
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    qat_model = tfc.lite.quantize_model(model)
    names = [layer.name for layer in qat_model.layers]
    assert "quant_rescale" in names and "quant_norm" in names
    x = helpers.images(8) * 255.0
    with pytest.raises(tfc.lite.QuantizationError, match="quant_norm"):
        tfc.lite.convert(qat_model, "qat")
    tflite = tfc.lite.convert(qat_model, "qat", representative_data=x)
    assert tfc.lite.edgetpu_report(tflite).full_int8


def _relu_then_bn_cnn():
    """Conv2D(activation="relu") -> BN, which tfmot cannot fold, then a
    Conv -> BN -> ReLU that it folds."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.BatchNormalization(momentum=0.5, name="bn"),
            keras.layers.Conv2D(4, 1, name="conv2"),
            keras.layers.BatchNormalization(momentum=0.5, name="bn2"),
            keras.layers.ReLU(name="relu"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(2, activation="softmax", name="logits"),
        ]
    )


def test_batch_norm_that_tfmot_cannot_fold_is_annotated():
    model = _relu_then_bn_cnn()
    tfk_model = tfc.lite.to_tf_keras(model)
    assert qat_annotate.unsupported_layers(tfk_model) == ["bn"]
    names = [layer.name for layer in tfc.lite.quantize_model(model).layers]
    assert "quant_bn" in names and "quant_bn2" in names


def test_qat_after_conv_relu_batch_norm_matches_float(data):
    x, y = data
    model = _relu_then_bn_cnn()
    model.compile(
        keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy"
    )
    model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    want = np.argmax(model.predict(x, verbose=0), -1)
    tflite = tfc.lite.qat(model, (x, y), epochs=1)
    assert tfc.lite.edgetpu_report(tflite).full_int8
    got = np.argmax(tfc.lite.predict(tflite, x), -1)
    assert np.mean(got == want) >= 0.85
    assert abs(np.mean(got == y) - np.mean(want == y)) <= 0.1


def test_qat_of_dense_then_batch_norm_exports_what_it_trained(data):
    # tfmot quantizes a Dense kernel per tensor and left the BN to the
    # converter: the file then disagreed with the trained model.
    x, y = data
    keras.utils.set_random_seed(2)
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.Flatten()(inputs)
    hidden = keras.layers.Dense(16, name="fc")(hidden)
    hidden = keras.layers.BatchNormalization(name="fc_bn")(hidden)
    hidden = keras.layers.ReLU(name="fc_relu")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(4, name="logits")(hidden))
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    qat_model = tfc.lite.quantize_model(model)
    names = [layer.name for layer in qat_model.layers]
    assert "quant_fc" in names and not any("fc_bn" in n for n in names)
    tflite = tfc.lite.qat(model, (x, y), epochs=1)
    assert tflite.argmax_agreement >= 0.9, tflite.max_abs_diff
    assert tfc.lite.edgetpu_report(tflite).full_int8


def test_a_model_with_two_outputs_is_refused_up_front(data):
    inputs = keras.Input((8, 8, 1))
    features = keras.layers.Flatten()(inputs)
    heads = {
        "cls": keras.layers.Dense(3, name="cls")(features),
        "aux": keras.layers.Dense(1, name="aux")(features),
    }
    model = keras.Model(inputs, heads)
    with pytest.raises(ValueError, match=r"`model`.*2 outputs.*outputs\[i\]"):
        tfc.lite.qat(model, data, epochs=1)


def test_qat_trains_with_random_flip_and_exports_without_it(data):
    x, y = data
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.RandomFlip(name="flip"),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(2, name="logits"),
        ]
    )
    tflite = tfc.lite.qat(model, (x, y), epochs=1)
    assert tflite.argmax_agreement >= 0.9
    assert any("flip" in note for note in tflite.notes)
    ops = {op.op_name for op in tfc.lite.read_ops(tflite)}
    assert not any("RANDOM" in name for name in ops)
    assert [layer.name for layer in model.layers][0] == "flip"


class RandomShift(keras.layers.RandomFlip):
    """A random layer that also changes its input at inference."""

    def call(self, inputs, training=True):
        return inputs + 1.0


def test_a_random_layer_active_at_inference_is_named_before_training(data):
    x, y = data
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            RandomShift(name="shift"),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ]
    )
    with pytest.raises(ValueError, match="'shift' \\(RandomShift\\)"):
        tfc.lite.qat(model, (x, y), epochs=1)


def test_kd_qat_takes_a_nested_backbone_feature_from_the_outer_graph():
    from tf_compact.lite import distill_qat

    image = keras.Input((8, 8, 1))
    inner = keras.layers.Conv2D(4, 3, strides=2, padding="same")(image)
    backbone = keras.Model(image, inner, name="backbone")
    inputs = keras.Input((8, 8, 1))
    h = backbone(keras.layers.Rescaling(0.5)(inputs))
    h = keras.layers.GlobalAveragePooling2D()(h)
    teacher = keras.Model(inputs, keras.layers.Dense(3)(h))
    net = distill_qat._teacher_net(teacher, ["backbone"])
    x = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    logits, feature = net(x)
    np.testing.assert_allclose(feature, backbone(0.5 * x), rtol=1e-5)
    np.testing.assert_allclose(logits, teacher(x), rtol=1e-5)
