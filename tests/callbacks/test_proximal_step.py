"""ProximalStep: exact zeros for a custom model training a proximal penalty."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.callbacks import helpers
from tf_compact.callbacks import BudgetController
from tf_compact.callbacks import ProximalStep


class PenaltyTrainer(keras.Model):
    """A custom wrapper that adds the penalty but applies no step."""

    def __init__(self, model, sparsity):
        super().__init__()
        self.model = model
        self.sparsity = sparsity

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        return loss + self.sparsity(self.model)


def _trainer(proximal=True, strength=0.5):
    model = helpers.conv_model(filters=(4, 8), name="student")
    trainer = PenaltyTrainer(model, tfc.GroupLasso(strength, proximal=proximal))
    trainer.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return trainer


def test_custom_trainer_with_proximal_step_gives_exact_zeros():
    x, y = helpers.data(32)
    trainer = _trainer()
    trainer.fit(
        x, y, epochs=3, batch_size=8, callbacks=[ProximalStep()], verbose=0
    )
    values = trainer.sparsity.channel_values(trainer.model).numpy()
    assert np.sum(values < 1e-5) >= 1
    report = tfc.sparsity_report(trainer.model, threshold=1e-5)
    assert report.num_below == np.sum(values < 1e-5)


def test_without_the_step_nothing_is_zeroed_and_controllers_warn():
    x, y = helpers.data(32)
    trainer = _trainer()
    with pytest.warns(UserWarning, match="ProximalStep"):
        history = trainer.fit(
            x,
            y,
            epochs=1,
            batch_size=8,
            callbacks=[BudgetController(target_macs=0.9)],
            verbose=0,
        ).history
    # No channel reached zero in training (the train-end fallback zeroes
    # the ones the budget needs afterwards).
    assert history["group_sparsity"] == [0.0]


def test_rejects_non_proximal_penalties_and_sparsifiers():
    x, y = helpers.data(8)
    with pytest.raises(ValueError, match="proximal=True"):
        _trainer(proximal=False).fit(
            x, y, callbacks=[ProximalStep()], verbose=0
        )
    trainer = helpers.sparsifier(proximal=True)
    with pytest.raises(ValueError, match="not needed with tfc.Sparsifier"):
        trainer.fit(x, y, callbacks=[ProximalStep()], verbose=0)


def test_config_round_trip():
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(ProximalStep())
    )
    assert isinstance(restored, ProximalStep)
