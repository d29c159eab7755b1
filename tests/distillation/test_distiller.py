"""Training behaviour of tf_compact.Distiller."""

import warnings

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.distillation import models


def _KL():
    # Keras's default loss="kl_divergence" skips its softmax (warned about).
    return keras.losses.KLDivergence()


def _fit(distiller, epochs=1, **kwargs):
    x, y = models.data(16)
    return distiller.fit(x, y, batch_size=8, epochs=epochs, verbose=0, **kwargs)


def test_logs_every_term_and_total_in_history():
    teacher, student = models.pair()
    losses = [tfc.LogitsKD(), tfc.FeatureKD(), tfc.AttentionTransfer()]
    distiller = models.compile_distiller(
        tfc.Distiller(teacher, student, losses, sparsity=models.L1Stand())
    )
    history = _fit(distiller).history
    for key in (
        "loss",
        "student_loss",
        "logits_kd",
        "feature_kd",
        "attention_transfer",
        "student_reg_loss",
        "sparsity_loss",
        "accuracy",
    ):
        assert key in history, key
        assert np.isfinite(history[key]).all()
    logs = distiller.evaluate(*models.data(8), verbose=0, return_dict=True)
    assert "feature_kd" in logs and "student_loss" in logs


def test_total_is_the_documented_weighted_sum():
    teacher, student = models.pair()
    distiller = tfc.Distiller(
        teacher,
        student,
        [tfc.LogitsKD(), tfc.FeatureKD()],
        distillation_loss_weights=[2.0, 0.5],
        student_loss_weight=0.25,
        sparsity=models.L1Stand(0.001),
    )
    models.compile_distiller(distiller, lr=0.0)
    x, y = models.data(8)
    logs = distiller.train_on_batch(x, y, return_dict=True)
    expected = (
        0.25 * logs["student_loss"]
        + 0.75 * (2.0 * logs["logits_kd"] + 0.5 * logs["feature_kd"])
        + logs["student_reg_loss"]
        + logs["sparsity_loss"]
    )
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-5)


def test_teacher_is_frozen_and_batchnorm_statistics_untouched():
    teacher, student = models.pair()
    before_t = models.weights_of(teacher)
    before_s = models.weights_of(student)
    distiller = models.compile_distiller(
        tfc.Distiller(teacher, student, [tfc.LogitsKD(), tfc.FeatureKD()])
    )
    _fit(distiller, epochs=2)
    for a, b in zip(before_t, models.weights_of(teacher)):
        np.testing.assert_array_equal(a, b)
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(before_s, models.weights_of(student))
    ]
    assert all(changed)
    assert teacher.trainable and all(v.trainable for v in teacher.layers)
    teacher_ids = {id(v) for v in teacher.variables}
    assert not teacher_ids & {id(v) for v in distiller.trainable_weights}


def test_each_model_runs_once_per_step():
    calls = {"teacher": 0, "student": 0}

    class Count(keras.layers.Layer):
        def __init__(self, key, **kwargs):
            super().__init__(**kwargs)
            self.key = key

        def call(self, x):
            calls[self.key] += 1
            return x

    def net(key, width):
        inputs = keras.Input((8, 8, 1))
        x = Count(key, name="count")(inputs)
        x = keras.layers.Conv2D(width, 3, name="conv")(x)
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
        return keras.Model(inputs, keras.layers.Dense(3)(x), name=key)

    distiller = tfc.Distiller(
        net("teacher", 8),
        net("student", 4),
        [tfc.LogitsKD(), tfc.FeatureKD(pairs=[("conv", "conv")])],
    )
    models.compile_distiller(distiller, run_eagerly=True)
    x, y = models.data(8)
    distiller.train_on_batch(x, y)
    calls.update(teacher=0, student=0)
    distiller.train_on_batch(x, y)
    assert calls == {"teacher": 1, "student": 1}


def test_student_regularizers_and_add_loss_are_trained_on():
    class Penalty(keras.layers.Layer):
        def call(self, x):
            self.add_loss(3.0 * keras.ops.mean(keras.ops.square(x)))
            return x

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(
        4, 3, name="c1", kernel_regularizer=keras.regularizers.L2(0.5)
    )(inputs)
    x = Penalty(name="penalty")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    student = keras.Model(inputs, keras.layers.Dense(3)(x))
    teacher = models.conv_net(8, "teacher")
    distiller = tfc.Distiller(teacher, student, [tfc.LogitsKD()])
    models.compile_distiller(distiller, lr=0.0)
    xb, yb = models.data(8)
    logs = distiller.train_on_batch(xb, yb, return_dict=True)
    student(xb)
    expected = sum(float(v) for v in student.losses)
    assert expected > 0.0
    np.testing.assert_allclose(logs["student_reg_loss"], expected, rtol=1e-4)
    plain = 0.5 * logs["student_loss"] + 0.5 * logs["logits_kd"]
    np.testing.assert_allclose(logs["loss"], plain + expected, rtol=1e-4)


def test_regularizer_shrinks_kernel_unlike_keras_distiller():
    def run(cls):
        keras.utils.set_random_seed(7)
        reg = keras.regularizers.L2(10.0)
        student = models.conv_net(4, "student", regularizer=reg)
        teacher = models.conv_net(8, "teacher")
        kernel = student.get_layer("c1").kernel
        start = float(np.linalg.norm(kernel.numpy()))
        distiller = cls(
            teacher,
            student,
            [keras.distillation.LogitsDistillation(loss=_KL())],
        )
        distiller.compile(
            optimizer=keras.optimizers.SGD(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        _fit(distiller, epochs=2)
        return float(np.linalg.norm(kernel.numpy())) / start

    ours, theirs = run(tfc.Distiller), run(keras.distillation.Distiller)
    assert ours < 0.5 * theirs


def test_sparsity_penalty_follows_its_strength_variable():
    penalty = models.L1Stand(0.01)
    teacher, student = models.pair()
    distiller = tfc.Distiller(
        teacher, student, [tfc.LogitsKD()], sparsity=penalty
    )
    models.compile_distiller(distiller, lr=0.0)
    x, y = models.data(8)
    first = distiller.train_on_batch(x, y, return_dict=True)["sparsity_loss"]
    np.testing.assert_allclose(first, float(penalty(student)), rtol=1e-5)
    penalty.strength.assign(0.03)
    distiller.reset_metrics()
    second = distiller.train_on_batch(x, y, return_dict=True)["sparsity_loss"]
    np.testing.assert_allclose(second, 3 * first, rtol=1e-5)


def test_accepts_keras_distillation_losses():
    teacher, student = models.conv_net(8, "teacher"), models.conv_net(8, "s")
    losses = [
        keras.distillation.LogitsDistillation(temperature=2.0, loss=_KL()),
        keras.distillation.FeatureDistillation(
            teacher_layer_name="r2", student_layer_name="r2"
        ),
        tfc.LogitsKD(),
    ]
    distiller = models.compile_distiller(
        tfc.Distiller(teacher, student, losses)
    )
    logs = _fit(distiller).history
    assert np.isfinite(logs["logits_distillation"]).all()
    assert np.isfinite(logs["feature_distillation"]).all()
    assert np.isfinite(logs["logits_kd"]).all()


def test_adapters_train_and_stay_out_of_the_student():
    teacher, student = models.pair(student_width=2)
    distiller = models.compile_distiller(
        tfc.Distiller(teacher, student, [tfc.FeatureKD(pairs=[("r1", "r2")])])
    )
    adapter = distiller.kd_modules[0].adapters[0]
    assert adapter.proj.kernel.shape == (1, 1, 4, 8)
    assert adapter.resize_to == (8, 8)
    before = adapter.proj.kernel.numpy().copy()
    _fit(distiller)
    assert not np.array_equal(before, adapter.proj.kernel.numpy())
    student_ids = {id(v) for v in student.variables}
    assert id(adapter.proj.kernel) not in student_ids
    assert len(student.layers) == len(models.conv_net(2, "x").layers)


def test_jit_compile_on_and_off_give_the_same_step():
    def one_step(jit_compile):
        keras.utils.set_random_seed(3)
        teacher, student = models.pair()
        losses = [
            tfc.LogitsKD(),
            tfc.FeatureKD(),
            tfc.AttentionTransfer(),
            tfc.ContrastiveKD("gap", "gap", memory_size=8),
        ]
        distiller = tfc.Distiller(teacher, student, losses)
        models.compile_distiller(distiller, jit_compile=jit_compile)
        x, y = models.data(8)
        logs = distiller.train_on_batch(x, y, return_dict=True)
        return logs, models.weights_of(student)

    base_logs, base_w = one_step(False)
    logs, w = one_step(True)
    np.testing.assert_allclose(logs["loss"], base_logs["loss"], rtol=1e-4)
    for a, b in zip(base_w, w):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_sequential_models_with_automatic_pairs():
    def seq(width, name):
        return keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                keras.layers.Conv2D(width, 3, padding="same", name="c1"),
                keras.layers.MaxPooling2D(name="p1"),
                keras.layers.Conv2D(width, 3, padding="same", name="c2"),
                keras.layers.GlobalAveragePooling2D(name="gap"),
                keras.layers.Dense(models.NUM_CLASSES, name="logits"),
            ],
            name=name,
        )

    losses = [tfc.FeatureKD(), tfc.AttentionTransfer()]
    distiller = tfc.Distiller(seq(8, "teacher"), seq(2, "student"), losses)
    assert distiller._plan.pairs[0] == [("c1", "c1"), ("c2", "c2")]
    models.compile_distiller(distiller)
    logs = distiller.train_on_batch(*models.data(8), return_dict=True)
    assert logs["feature_kd"] > 0.0 and logs["attention_transfer"] >= 0.0


def test_labels_may_follow_a_run_without_labels():
    x, y = models.data(16)
    for first, second in (("fit", "fit"), ("evaluate", "evaluate")):
        teacher, student = models.pair()
        distiller = models.compile_distiller(
            tfc.Distiller(teacher, student, [tfc.LogitsKD()])
        )
        logs = getattr(distiller, first)(x, batch_size=8, verbose=0)
        # Distillation alone: no student loss, no accuracy without labels.
        run = getattr(distiller, second)
        logs = run(x, y, batch_size=8, verbose=0)
        if second == "fit":
            logs = {k: v[-1] for k, v in logs.history.items()}
        else:
            logs = distiller.get_metrics_result()
        assert float(logs["student_loss"]) > 0.0
        assert 0.0 <= float(logs["accuracy"]) <= 1.0


def test_distillation_without_labels_validated_with_labels():
    x, y = models.data(16)
    teacher, student = models.pair()
    distiller = models.compile_distiller(
        tfc.Distiller(teacher, student, [tfc.LogitsKD()])
    )
    history = distiller.fit(
        x, validation_data=(x, y), batch_size=8, epochs=2, verbose=0
    ).history
    assert len(history["loss"]) == 2
    assert 0.0 <= history["val_accuracy"][-1] <= 1.0


def test_keras_logits_distillation_with_its_default_loss_is_warned_about():
    teacher, student = models.conv_net(8, "teacher"), models.conv_net(8, "s")
    default = keras.distillation.LogitsDistillation(temperature=2.0)
    with pytest.warns(UserWarning, match="skips its softmax"):
        tfc.Distiller(teacher, student, [default])
    fixed = keras.distillation.LogitsDistillation(temperature=2.0, loss=_KL())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tfc.Distiller(teacher, student, [fixed])


def test_keras_feature_distillation_of_unequal_shapes_is_refused_up_front():
    teacher, student = models.conv_net(8, "teacher"), models.conv_net(4, "s")
    loss = keras.distillation.FeatureDistillation(
        teacher_layer_name="r1", student_layer_name="r1"
    )
    with pytest.raises(ValueError) as error:
        tfc.Distiller(teacher, student, [loss])
    message = str(error.value)
    assert "FeatureDistillation compares teacher layer 'r1' of shape" in message
    assert "(None, 8, 8, 8)" in message and "(None, 8, 8, 4)" in message
    assert "tfc.FeatureKD" in message
