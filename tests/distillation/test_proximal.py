"""The Distiller applies a proximal penalty's step in its train step."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.distillation import models
from tests.python_child import last_json
from tests.python_child import run_python

LR = 0.1


def _distiller(student, sparsity=None):
    keras.utils.set_random_seed(3)
    teacher = models.conv_net(8, "teacher")
    distiller = tfc.Distiller(
        teacher, student, [tfc.LogitsKD()], sparsity=sparsity
    )
    distiller.compile(
        optimizer=keras.optimizers.SGD(LR),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return distiller


def _twins():
    keras.utils.set_random_seed(5)
    student = models.conv_net(4, "student")
    twin = models.conv_net(4, "student")
    twin.set_weights(student.get_weights())
    return student, twin


def test_train_step_equals_plain_step_then_proximal_step():
    student, twin = _twins()
    x, y = models.data(16)
    penalty = tfc.GroupLasso(0.05, proximal=True)
    _distiller(student, penalty).train_on_batch(x, y)
    _distiller(twin).train_on_batch(x, y)
    pairs = zip(student.get_weights(), twin.get_weights())
    assert any(not np.allclose(a, b) for a, b in pairs)
    reference = tfc.GroupLasso(0.05, proximal=True)
    reference.bind(twin)
    reference.apply_proximal(LR)
    for got, want in zip(student.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_exact_zeros_without_any_callback():
    student, _ = _twins()
    x, y = models.data(32)
    penalty = tfc.GroupLasso(2.0, proximal=True)
    distiller = _distiller(student, penalty)
    assert penalty.proximal_applied
    history = distiller.fit(x, y, epochs=2, batch_size=8, verbose=0)
    values = np.asarray(penalty.channel_values(student))
    assert np.sum(values == 0.0) >= 1
    assert "sparsity_loss" in history.history


def test_non_proximal_penalty_only_adds_its_gradient():
    student, twin = _twins()
    x, y = models.data(16)
    penalty = tfc.GroupLasso(0.0, proximal=False)
    distiller = _distiller(student, penalty)
    assert not penalty.proximal_applied
    distiller.train_on_batch(x, y)
    _distiller(twin).train_on_batch(x, y)
    for got, want in zip(student.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_proximal_step_callback_refuses_a_distiller():
    student, _ = _twins()
    x, y = models.data(8)
    distiller = _distiller(student, tfc.GroupLasso(0.05, proximal=True))
    with pytest.raises(ValueError, match="not needed with tfc.Distiller"):
        distiller.fit(x, y, callbacks=[tfc.callbacks.ProximalStep()], verbose=0)


def test_two_mirrored_replicas_shrink_like_one_device():
    result = last_json(
        run_python(["-m", "tests.distillation.proximal_mirrored_check"])
    )
    assert result["replicas"] == 2
    assert result["zeros_single"] >= 1
    assert result["zeros_mirrored"] == result["zeros_single"]
    assert result["max_weight_diff"] < 1e-5
