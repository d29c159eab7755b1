"""Teacher and student see the same augmented batch in distillation."""

import warnings

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tf_compact.internal import input_augmentation


def _augmentation(nested):
    layers = [
        keras.layers.RandomFlip("horizontal", name="flip"),
        keras.layers.RandomTranslation(0.2, 0.2, name="shift"),
    ]
    if nested:
        return [keras.Sequential(layers, name="augment")]
    return layers


def _net(augment_first=True, nested=False, augment_inside=False):
    inputs = keras.Input((12, 12, 3))
    h = inputs
    if augment_first:
        for layer in _augmentation(nested):
            h = layer(h)
    h = keras.layers.Rescaling(1 / 2.0)(h)
    h = keras.layers.Conv2D(6, 3, activation="relu", name="conv")(h)
    if augment_inside:
        h = keras.layers.RandomContrast(0.5, name="inner_contrast")(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(4, activation="softmax", name="head")(h)
    return keras.Model(inputs, outputs)


def _pair(**kwargs):
    keras.utils.set_random_seed(1)
    teacher = _net(**kwargs)
    student = _net(**kwargs)
    student.set_weights(teacher.get_weights())
    return teacher, student


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((64, 12, 12, 3)).astype("float32")
    return x, rng.integers(0, 4, 64)


def _fit_with_frozen_student(teacher, student, losses):
    distiller = tfc.Distiller(teacher, student, losses, student_loss_weight=0)
    distiller.compile(
        keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy"
    )
    x, y = _data()
    return distiller.fit(x, y, batch_size=16, epochs=1, verbose=0).history


@pytest.mark.parametrize("nested", [False, True])
def test_an_identical_pair_has_no_distillation_loss_under_augmentation(
    nested,
):
    teacher, student = _pair(nested=nested)
    history = _fit_with_frozen_student(
        teacher, student, [tfc.LogitsKD(temperature=1.0)]
    )
    assert history["logits_kd"][-1] < 1e-6


def test_features_are_read_after_the_shared_augmentation():
    teacher, student = _pair()
    history = _fit_with_frozen_student(
        teacher, student, [tfc.FeatureKD(pairs=[("conv", "conv")])]
    )
    assert history["feature_kd"][-1] < 1e-6


def test_augmentation_still_runs_in_training():
    found = input_augmentation.find(_net())
    assert found.layer_names == ["flip", "shift"]
    x, _ = _data()
    augmented = keras.ops.convert_to_numpy(found.model(x, training=True))
    assert not np.allclose(augmented, x)
    inference = keras.ops.convert_to_numpy(found.model(x, training=False))
    np.testing.assert_array_equal(inference, x)


def test_augmentation_inside_the_student_warns_and_names_the_layer():
    teacher, student = _pair(augment_first=False, augment_inside=True)
    with pytest.warns(UserWarning, match="inner_contrast"):
        tfc.Distiller(teacher, student, [tfc.LogitsKD()])


def test_a_student_without_augmentation_gives_no_warning():
    teacher, student = _pair(augment_first=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tfc.Distiller(teacher, student, [tfc.LogitsKD()])


def test_the_chain_stops_at_a_shared_tensor_and_a_second_input():
    inputs = keras.Input((8, 8, 1))
    flipped = keras.layers.RandomFlip()(inputs)
    skip = keras.layers.Add()([inputs, flipped])
    model = keras.Model(inputs, keras.layers.Flatten()(skip))
    assert input_augmentation.find(model).model is None
    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    two = keras.Model(
        [a, b], keras.layers.Add()([keras.layers.RandomFlip()(a), b])
    )
    assert input_augmentation.find(two).model is None


def test_sequential_students_and_deterministic_layers():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.RandomZoom(0.1, name="zoom"),
            keras.layers.Resizing(6, 6),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    found = input_augmentation.find(model)
    assert found.layer_names == ["zoom"]
    assert found.elsewhere == []


def test_distiller_with_augmentation_round_trips(tmp_path):
    teacher, student = _pair()
    distiller = tfc.Distiller(teacher, student, [tfc.LogitsKD()])
    distiller.compile("adam", "sparse_categorical_crossentropy")
    x, y = _data()
    distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "d.keras")
    distiller.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), distiller.predict(x, verbose=0), atol=1e-6
    )
    assert loaded._augmentation.layer_names == ["flip", "shift"]


def test_a_sequential_student_shares_its_augmentation():
    def net():
        return keras.Sequential(
            [
                keras.Input((12, 12, 3)),
                keras.layers.RandomFlip("horizontal"),
                keras.layers.RandomTranslation(0.2, 0.2),
                keras.layers.Conv2D(6, 3, activation="relu"),
                keras.layers.Flatten(),
                keras.layers.Dense(4),
            ]
        )

    keras.utils.set_random_seed(1)
    teacher, student = net(), net()
    student.set_weights(teacher.get_weights())
    history = _fit_with_frozen_student(
        teacher, student, [tfc.LogitsKD(temperature=1.0)]
    )
    assert history["logits_kd"][-1] < 1e-6


def test_a_dict_input_student_shares_its_augmentation():
    def net():
        inputs = {"image": keras.Input((12, 12, 3), name="image")}
        h = keras.layers.RandomFlip("horizontal")(inputs["image"])
        h = keras.layers.Flatten()(keras.layers.Conv2D(6, 3)(h))
        return keras.Model(inputs, keras.layers.Dense(4)(h))

    keras.utils.set_random_seed(1)
    teacher, student = net(), net()
    student.set_weights(teacher.get_weights())
    distiller = tfc.Distiller(
        teacher, student, [tfc.LogitsKD(temperature=1.0)], student_loss_weight=0
    )
    distiller.compile(
        keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy"
    )
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        history = distiller.fit({"image": x}, y, batch_size=16, verbose=0)
        logs = distiller.evaluate({"image": x}, y, verbose=0, return_dict=True)
    assert history.history["logits_kd"][-1] < 1e-6
    assert logs["logits_kd"] < 1e-6


def test_augmentation_inside_a_nested_model_is_warned_about():
    backbone_in = keras.Input((12, 12, 3))
    h = keras.layers.RandomFlip(name="inner_flip")(backbone_in)
    h = keras.layers.Flatten()(keras.layers.Conv2D(6, 3)(h))
    backbone = keras.Model(backbone_in, h, name="backbone")
    inputs = keras.Input((12, 12, 3))
    outputs = keras.layers.Dense(4)(backbone(inputs))
    found = input_augmentation.find(keras.Model(inputs, outputs))
    assert found.model is None
    assert found.elsewhere == ["backbone/inner_flip"]


def test_augmentation_is_shared_under_a_mixed_precision_policy():
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        found = input_augmentation.find(_net())
    finally:
        keras.config.set_dtype_policy(policy)
    assert found.layer_names == ["flip", "shift"]
