"""ProximalStep: exact zeros when a Distiller trains a proximal penalty."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.callbacks import helpers
from tf_compact.callbacks import BudgetController
from tf_compact.callbacks import ProximalStep


def _distiller(proximal=True, strength=0.5):
    teacher = helpers.conv_model(name="teacher")
    student = helpers.conv_model(filters=(4, 8), name="student")
    distiller = tfc.Distiller(
        teacher,
        student,
        distillation_losses=[tfc.LogitsKD()],
        sparsity=tfc.GroupLasso(strength, proximal=proximal),
    )
    distiller.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return distiller


def test_distiller_with_proximal_step_gives_exact_zeros():
    x, y = helpers.data(32)
    distiller = _distiller()
    distiller.fit(
        x, y, epochs=3, batch_size=8, callbacks=[ProximalStep()], verbose=0
    )
    values = distiller.sparsity.channel_values(distiller.student).numpy()
    assert np.sum(values < 1e-5) >= 1
    report = tfc.sparsity_report(distiller.student, threshold=1e-5)
    assert report.num_below == np.sum(values < 1e-5)


def test_without_the_step_nothing_is_zeroed_and_controllers_warn():
    x, y = helpers.data(32)
    distiller = _distiller()
    with pytest.warns(UserWarning, match="ProximalStep"):
        distiller.fit(
            x,
            y,
            epochs=1,
            batch_size=8,
            callbacks=[BudgetController(target_macs=0.9)],
            verbose=0,
        )
    values = distiller.sparsity.channel_values(distiller.student).numpy()
    assert np.all(values > 1e-3)


def test_rejects_non_proximal_penalties_and_sparsifiers():
    x, y = helpers.data(8)
    distiller = _distiller(proximal=False)
    with pytest.raises(ValueError, match="proximal=True"):
        distiller.fit(x, y, callbacks=[ProximalStep()], verbose=0)
    trainer = helpers.sparsifier(proximal=True)
    with pytest.raises(ValueError, match="not needed"):
        trainer.fit(x, y, callbacks=[ProximalStep()], verbose=0)


def test_config_round_trip():
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(ProximalStep())
    )
    assert isinstance(restored, ProximalStep)
