"""IterativePruning: masks grow round by round up to the budget."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.callbacks import helpers
from tf_compact.callbacks import GradualPruning
from tf_compact.callbacks import IterativePruning


def test_rounds_mask_channels_until_the_budget_and_keep_them_zero():
    x, y = helpers.data(32)
    trainer = helpers.sparsifier(strength=0.0, proximal=False)
    callback = IterativePruning(target_macs=0.4, fraction=0.4)
    history = trainer.fit(
        x, y, epochs=4, batch_size=16, callbacks=[callback], verbose=0
    ).history
    fractions = history["slim_macs_fraction"]
    assert fractions[0] < 1.0
    assert all(a >= b for a, b in zip(fractions, fractions[1:]))
    assert fractions[-1] <= 0.4
    model = trainer.model
    report = tfc.sparsity_report(model, threshold=1e-12)
    masked = ~np.concatenate([callback.masks[n] for n in report.group_names])
    assert np.all(report.values[masked] == 0.0)
    assert np.all(report.values[~masked] > 0.0)
    slim = tfc.slim(model, callback.masks)
    macs, _ = tfc.estimate_slim_cost(model)
    assert tfc.estimate_slim_cost(slim)[0] <= 0.4 * macs
    np.testing.assert_allclose(slim(x), model(x), atol=1e-4)
    # The mask lives in the penalty, so BackupAndRestore saves it.
    stored = trainer.sparsity.state_variable("prune_mask").numpy()
    np.testing.assert_array_equal(stored > 0, ~masked)


def test_works_on_a_plain_model():
    x, y = helpers.data(16)
    model = helpers.conv_model()
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    callback = IterativePruning(target_params=0.7, fraction=0.5)
    model.fit(x, y, epochs=1, callbacks=[callback], verbose=0)
    assert sum(int((~m).sum()) for m in callback.masks.values()) > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"target_macs": 2.0},
        {"target_macs": 0.5, "fraction": 0.0},
        {"target_macs": 0.5, "every": 0},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        IterativePruning(**kwargs)


def test_config_round_trip():
    callback = IterativePruning(target_params=0.3, fraction=0.1, every=2)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(callback)
    )
    assert restored.get_config() == callback.get_config()


def test_both_targets_prune_until_both_are_met():
    x, y = helpers.data(32)
    trainer = helpers.sparsifier(strength=0.0, proximal=False)
    # On this model a prune to 60% of the MACs keeps more than 40% of the
    # parameters, so the parameter target needs rounds of its own.
    model = trainer.model
    by_macs = tfc.estimate_slim_cost(tfc.prune(model, target_macs=0.6))
    dense = tfc.estimate_slim_cost(model)
    assert by_macs[1] > 0.4 * dense[1]
    callback = IterativePruning(
        target_macs=0.6, target_params=0.4, fraction=0.3
    )
    history = trainer.fit(
        x, y, epochs=6, batch_size=16, callbacks=[callback], verbose=0
    ).history
    assert history["slim_macs_fraction"][-1] <= 0.6
    assert history["slim_params_fraction"][-1] <= 0.4
    assert callback.meets(callback.cost())
    slim = tfc.slim(model, callback.masks)
    macs, params = tfc.estimate_slim_cost(slim)
    assert macs <= 0.6 * dense[0] and params <= 0.4 * dense[1]
    config = callback.get_config()
    assert (config["target_macs"], config["target_params"]) == (0.6, 0.4)
    restored = IterativePruning.from_config(config)
    assert restored.targets == {"macs": 0.6, "params": 0.4}


@pytest.mark.parametrize("callback", [IterativePruning, GradualPruning])
def test_a_model_without_prunable_channels_is_refused_by_name(callback):
    inputs = keras.Input((4, 4, 1))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs, name="flat")
    with pytest.raises(ValueError, match="'flat' has no prunable channel"):
        callback(target_macs=0.5).set_model(model)
