"""Distiller inputs: labels, outputs and arguments the user may pass."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.robustness import helpers
from tf_compact.pipeline import training

CLASSES = 3


def _net(seed, name, heads=("out",), activation=None):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((5,), name="x")
    h = keras.layers.Dense(6, activation="relu", name=f"{name}_h")(inputs)
    outputs = [
        keras.layers.Dense(CLASSES, activation=activation, name=head)(h)
        for head in heads
    ]
    return keras.Model(inputs, outputs[0] if len(heads) == 1 else outputs)


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    y = rng.integers(0, CLASSES, n)
    return x, y


def _evaluate(distiller, x, y=None):
    if y is None:
        return distiller.evaluate(
            x, batch_size=len(x), return_dict=True, verbose=0
        )
    return distiller.evaluate(
        x, y, batch_size=len(x), return_dict=True, verbose=0
    )


@pytest.mark.parametrize(
    "loss",
    [
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.losses.CategoricalCrossentropy(from_logits=True),
        "sparse_categorical_crossentropy",
    ],
)
def test_distiller_accepts_one_hot_and_integer_labels(loss):
    teacher, student = _net(0, "t"), _net(1, "s", activation="softmax")
    before = helpers.snapshot(student)
    x, y = _data()
    one_hot = keras.utils.to_categorical(y, CLASSES)
    results = []
    for labels in (y, one_hot):
        distiller = tfc.Distiller(teacher, student, [tfc.LogitsKD()])
        distiller.compile("sgd", loss=loss, metrics=["accuracy"])
        results.append(_evaluate(distiller, x, labels))
    helpers.assert_unchanged(student, before)
    for key in ("loss", "student_loss", "accuracy"):
        np.testing.assert_allclose(results[1][key], results[0][key], rtol=1e-5)
    distiller.fit(x, one_hot, epochs=1, verbose=0)


def test_compile_and_fit_classifier_accept_one_hot_labels():
    x, y = _data()
    one_hot = keras.utils.to_categorical(y, CLASSES)
    sparse = training.compile_classifier(_net(2, "m", activation="softmax"))
    dense = training.compile_classifier(_net(2, "m", activation="softmax"))
    want = sparse.evaluate(x, y, return_dict=True, verbose=0)
    got = dense.evaluate(x, one_hot, return_dict=True, verbose=0)
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-5)
    np.testing.assert_allclose(got["accuracy"], want["accuracy"])
    data = tf.data.Dataset.from_tensor_slices((x, one_hot)).batch(4)
    history = training.fit_classifier(_net(3, "m"), data, epochs=1, verbose=0)
    assert set(history) == {"loss", "accuracy"}
    assert math.isfinite(history["loss"][0])


def test_multi_output_models_are_refused_without_a_chosen_output():
    teacher = _net(0, "t", heads=("cls", "aux"))
    student = _net(1, "s", heads=("cls", "aux"))
    with pytest.raises(ValueError, match=r"2 outputs.*distilled_output"):
        tfc.Distiller(teacher, student, [tfc.LogitsKD()])


@pytest.mark.parametrize("output", [1, "aux"])
def test_multi_output_models_distill_the_chosen_output(output):
    teacher = _net(0, "t", heads=("cls", "aux"))
    student = _net(1, "s", heads=("cls", "aux"))
    before = helpers.snapshot(teacher), helpers.snapshot(student)
    x, y = _data()
    distiller = tfc.Distiller(
        teacher, student, [tfc.LogitsKD()], distilled_output=output
    )
    distiller.compile(
        "sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    got = _evaluate(distiller, x, y)
    # The same layers, as single-output models of the chosen head.
    single_t = keras.Model(teacher.inputs, teacher.outputs[1])
    single_s = keras.Model(student.inputs, student.outputs[1])
    ref = tfc.Distiller(single_t, single_s, [tfc.LogitsKD()])
    ref.compile(
        "sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    want = _evaluate(ref, x, y)
    for key in ("loss", "logits_kd", "student_loss", "accuracy"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5)
    helpers.assert_unchanged(teacher, before[0])
    helpers.assert_unchanged(student, before[1])
    distiller.fit(x, y, epochs=1, verbose=0)
    config = distiller.get_config()
    assert config["distilled_output"] == output
    json.dumps(config["distilled_output"])


def test_labels_given_per_output_are_read_for_the_chosen_one():
    teacher = _net(0, "t", heads=("cls", "aux"))
    student = _net(1, "s", heads=("cls", "aux"))
    x, y = _data()
    with pytest.warns(UserWarning, match=r"output 'aux' only.*\['cls'\]"):
        distiller = tfc.Distiller(
            teacher, student, [tfc.LogitsKD()], distilled_output="aux"
        )
    distiller.compile(
        "sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    want = _evaluate(distiller, x, y)
    other = np.zeros_like(y)
    for labels in ({"aux": y, "cls": other}, [other, y]):
        got = _evaluate(distiller, x, labels)
        np.testing.assert_allclose(got["student_loss"], want["student_loss"])
    with pytest.raises(ValueError, match=r"'aux'.*keys \['box', 'cls'\]"):
        distiller.fit(x, {"cls": y, "box": y}, epochs=1, verbose=0)


def test_a_single_output_student_learns_the_chosen_teacher_output():
    teacher = _net(0, "t", heads=("cls", "aux"))
    student = _net(1, "s")
    x, y = _data()
    distiller = tfc.Distiller(
        teacher, student, [tfc.LogitsKD()], distilled_output="aux"
    )
    distiller.compile("sgd")
    got = _evaluate(distiller, x, y)
    single_t = keras.Model(teacher.inputs, teacher.outputs[1])
    ref = tfc.Distiller(single_t, student, [tfc.LogitsKD()])
    ref.compile("sgd")
    want = _evaluate(ref, x, y)
    np.testing.assert_allclose(got["logits_kd"], want["logits_kd"], rtol=1e-6)


def test_unknown_output_is_refused_with_the_names():
    teacher = _net(0, "t", heads=("cls", "aux"))
    student = _net(1, "s", heads=("cls", "aux"))
    with pytest.raises(ValueError, match=r"\['cls', 'aux'\].*'box'"):
        tfc.Distiller(
            teacher, student, [tfc.LogitsKD()], distilled_output="box"
        )


def test_inputs_only_data_trains_on_distillation_alone():
    teacher, student = _net(0, "t"), _net(1, "s")
    x, y = _data()
    distiller = tfc.Distiller(
        teacher, student, [tfc.LogitsKD()], student_loss_weight=0.5
    )
    distiller.compile(
        "sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    logs = _evaluate(distiller, x)
    assert "accuracy" not in logs
    assert logs["student_loss"] == 0.0
    np.testing.assert_allclose(logs["loss"], logs["logits_kd"], rtol=1e-6)
    history = distiller.fit(x, epochs=1, batch_size=4, verbose=0).history
    assert "accuracy" not in history and "logits_kd" in history


@pytest.mark.parametrize(
    "temperature",
    [math.inf, -math.inf, math.nan, 0, 0.0, -1.0, True, False, "4", None],
)
def test_logits_kd_refuses_non_finite_or_non_positive_temperatures(
    temperature,
):
    with pytest.raises(ValueError, match="`temperature`.*finite float > 0"):
        tfc.LogitsKD(temperature=temperature)


@pytest.mark.parametrize(
    "make",
    [
        lambda: tfc.LogitsKD(temperature=np.float32(4.0)),
        lambda: tfc.LogitsKD(temperature=np.int64(2)),
        lambda: tfc.ContrastiveKD(
            temperature=np.float64(0.2),
            embedding_dim=np.int64(8),
            memory_size=np.int32(0),
        ),
        lambda: tfc.AttentionTransfer(p=np.float32(2.0)),
    ],
)
def test_numpy_scalars_are_accepted_and_serialize(make):
    loss = make()
    config = loss.get_config()
    json.dumps(config)
    assert type(loss).from_config(config).get_config() == config


def test_distiller_accepts_numpy_weights():
    teacher, student = _net(0, "t"), _net(1, "s")
    distiller = tfc.Distiller(
        teacher,
        student,
        [tfc.LogitsKD(np.float32(3.0))],
        distillation_loss_weights=[np.float32(0.5)],
        student_loss_weight=np.float64(0.25),
    )
    config = distiller.get_config()
    assert config["student_loss_weight"] == 0.25
    assert config["distillation_loss_weights"] == [0.5]
    from_array = tfc.Distiller(
        teacher,
        student,
        [tfc.LogitsKD()],
        distillation_loss_weights=np.array([0.5]),
    )
    assert from_array.get_config()["distillation_loss_weights"] == [0.5]
    json.dumps(
        {k: config[k] for k in ("student_loss_weight", "distilled_output")}
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"student_loss_weight": math.nan}, "student_loss_weight"),
        ({"student_loss_weight": True}, "student_loss_weight"),
        ({"distillation_loss_weights": [math.inf]}, "distillation_loss_wei"),
        ({"distilled_output": 1.5}, "distilled_output"),
    ],
)
def test_distiller_refuses_bad_numbers(kwargs, match):
    teacher, student = _net(0, "t"), _net(1, "s")
    with pytest.raises(ValueError, match=match):
        tfc.Distiller(teacher, student, [tfc.LogitsKD()], **kwargs)


def test_a_student_built_on_the_teachers_layers_is_refused():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    teacher = keras.Model(inputs, keras.layers.Dense(3, name="head")(x))
    features = teacher.get_layer("bn").output
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    student = keras.Model(teacher.input, keras.layers.Dense(3)(pooled))
    before = helpers.snapshot(teacher)
    with pytest.raises(ValueError, match=r"teacher's layers \['bn', 'conv'\]"):
        tfc.Distiller(teacher, student, [tfc.LogitsKD()])
    helpers.assert_unchanged(teacher, before)
