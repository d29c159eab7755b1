"""BudgetController with a MACs and a parameter target at once."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.callbacks import helpers
from tf_compact.callbacks import BudgetController

# On `helpers.conv_model()` a prune to 60% of the MACs keeps more than 40%
# of the parameters, so with both targets the parameter one binds first.
MACS, PARAMS = 0.6, 0.4


def _meets(report, macs=MACS, params=PARAMS):
    return report.macs_fraction <= macs and report.params_fraction <= params


def test_the_targets_bind_differently_on_the_test_model():
    model = helpers.conv_model()
    dense = tfc.estimate_slim_cost(model)
    by_macs = tfc.estimate_slim_cost(tfc.prune(model, target_macs=MACS))
    assert by_macs[1] / dense[1] > PARAMS


def test_targeted_choice_meets_both_targets_and_is_minimal():
    trainer = helpers.sparsifier(strength=1e-2)
    controller = BudgetController(target_macs=MACS, target_params=PARAMS)
    controller.set_model(trainer)
    weights = controller.penalty.channel_weights.numpy()
    values = controller.measure().values
    zeroed = np.where(weights > 0, 0.0, values)
    assert _meets(controller.measure(values=zeroed))
    # Sparing the targeted channel that prunes last breaks a target.
    spared = zeroed.copy()
    spared[np.argmax(weights * (values + 1))] = values.max() + 1
    assert not _meets(controller.measure(values=spared))


def test_binding_is_the_target_with_the_largest_overshoot():
    trainer = helpers.sparsifier()
    controller = BudgetController(target_macs=MACS, target_params=PARAMS)
    controller.set_model(trainer)
    report = controller.measure()
    kind, measured, target = controller.binding(report)
    # Dense model: both fractions are 1, so the tighter target binds.
    assert (kind, measured, target) == ("params", 1.0, PARAMS)
    assert controller.targets(report) == {"macs": MACS, "params": PARAMS}
    assert controller.kinds == ("macs", "params")


@pytest.mark.parametrize("targeted", [True, False])
def test_training_ends_with_a_threshold_that_meets_both(targeted):
    trainer = helpers.sparsifier(strength=1e-2, lr=0.02)
    controller = BudgetController(
        target_macs=MACS,
        target_params=PARAMS,
        gain=4.0,
        max_change=4.0,
        targeted=targeted,
        # Pinned: training cannot meet the budget, the threshold must.
        max_strength=1e-2,
    )
    x, y = helpers.data(64)
    with pytest.warns(UserWarning, match="were zeroed in the trained model"):
        history = trainer.fit(
            x, y, epochs=2, batch_size=16, callbacks=[controller], verbose=0
        ).history
    assert "slim_params_fraction" in history
    report = tfc.sparsity_report(trainer.model, threshold=controller.threshold)
    assert _meets(report)
    pruned = tfc.prune(trainer.model, threshold=controller.threshold)
    dense = tfc.estimate_slim_cost(trainer.model)
    macs, params = tfc.estimate_slim_cost(pruned)
    assert macs <= MACS * dense[0] and params <= PARAMS * dense[1]


def test_strength_grows_while_the_binding_target_is_missed():
    trainer = helpers.sparsifier(strength=1e-3)
    controller = BudgetController(
        target_macs=0.99, target_params=PARAMS, targeted=False
    )
    controller.set_model(trainer)
    controller.on_train_begin()
    before = controller.strength_value()
    controller._update({})
    # The MACs target alone is met by the dense model (within the hold
    # band); the parameter target is not, so the strength rises.
    assert controller.strength_value() > before


def test_config_round_trip_with_both_targets():
    controller = BudgetController(target_macs=MACS, target_params=PARAMS)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(controller)
    )
    assert restored.get_config() == controller.get_config()
    assert restored.kinds == ("macs", "params")
