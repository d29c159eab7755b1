"""Targeted BudgetController: only the channels the budget needs shrink."""

import os
import re

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.callbacks import helpers
from tf_compact.callbacks import BudgetController
from tf_compact.callbacks import targeting

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def _fit(trainer, controller, epochs, x, y, batch_size=16):
    return trainer.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        callbacks=[controller],
        verbose=0,
    ).history


def test_set_model_targets_the_channels_a_prune_to_the_budget_removes():
    trainer = helpers.sparsifier(strength=1e-2)
    controller = BudgetController(target_macs=0.5)
    controller.set_model(trainer)
    weights = controller.penalty.channel_weights.numpy()
    assert set(np.unique(weights)) == {0.0, 1.0}
    values = controller.measure().values
    # With the targeted channels at zero, the slim model meets the budget.
    report = controller.measure(values=np.where(weights > 0, 0.0, values))
    assert report.macs_fraction <= 0.5
    # Sparing one targeted channel breaks it: the choice is minimal.
    spared = np.where(weights > 0, 0.0, values)
    spared[np.argmax(weights * (values + 1))] = values.max() + 1
    assert controller.measure(values=spared).macs_fraction > 0.5


def test_survivor_scores_ignore_the_shrinking_channels():
    trainer = helpers.sparsifier()
    controller = BudgetController(target_macs=0.5)
    controller.set_model(trainer)
    plan = controller.penalty.plan
    rng = np.random.default_rng(0)
    values = rng.uniform(1.0, 2.0, size=plan.num_channels)
    targeted = np.zeros(plan.num_channels, dtype=bool)
    targeted[:3] = True
    before = targeting.survivor_scores(plan, values, targeted)
    shrunk = values.copy()
    shrunk[:3] *= 1e-3
    after = targeting.survivor_scores(plan, shrunk, targeted)
    first = plan.group_names[0]
    np.testing.assert_allclose(after[first][3:], before[first][3:])
    np.testing.assert_allclose(after[first][:3], before[first][:3] * 1e-3)


def test_strength_grows_until_the_budget_is_met_then_holds():
    x, y = helpers.data(64)
    trainer = helpers.sparsifier(strength=0.1, lr=0.02)
    # The proportional law, once per epoch, so each row is one update
    # (the default ramp meets this budget within the first epoch).
    controller = BudgetController(
        target_macs=0.5, update_every="epoch", ramp=None
    )
    history = _fit(trainer, controller, 6, x, y)
    macs = np.array(history["slim_macs_fraction"])
    strength = np.array(history["sparsity_strength"])
    assert np.any(macs <= 0.5), f"budget never met: {macs}"
    assert macs[0] > 0.5 and strength[0] > 0.1
    # Row i holds the cost at the end of epoch i and the strength the
    # controller set from it.
    over = macs[1:] > 0.5
    steps = np.diff(strength)
    assert np.all(steps[over] > 0)
    assert np.all(steps[~over] == 0)
    assert np.all(np.array(history["targeted_fraction"]) < 1)


def test_untargeted_channels_keep_their_norms_under_a_huge_strength():
    x, y = helpers.data(64)
    trainer = helpers.sparsifier(strength=50.0, lr=0.02)
    controller = BudgetController(target_macs=0.5, update_every=1000)
    controller.set_model(trainer)
    spared = controller.penalty.channel_weights.numpy() == 0
    _fit(trainer, controller, 1, x, y)
    values = controller.measure().values
    assert np.all(values[~spared] == 0)
    assert np.all(values[spared] > controller.threshold)


def test_unreachable_budget_penalizes_every_channel():
    trainer = helpers.sparsifier()
    controller = BudgetController(target_macs=1e-4)
    with pytest.warns(UserWarning, match="Penalizing every channel"):
        controller.set_model(trainer)
    np.testing.assert_array_equal(
        controller.penalty.channel_weights.numpy(), 1.0
    )


@pytest.mark.parametrize(
    "target, said",
    [
        (1e-4, r"0\.01% of the model's MACs"),
        (2, r"2 of the model's [\d,]+ MACs"),
    ],
)
def test_an_unreachable_budget_is_named_as_the_user_gave_it(target, said):
    trainer = helpers.sparsifier()
    controller = BudgetController(target_macs=target)
    with pytest.warns(UserWarning) as caught:
        controller.set_model(trainer)
    (message,) = [
        str(w.message)
        for w in caught
        if str(w.message).startswith("BudgetController")
    ]
    assert re.search(rf"`target_macs={target!r}` \({said}\)", message)
    assert "cannot be met by removing channels" in message
    assert "Invalid value" not in message


def test_a_count_above_the_model_warns_that_nothing_goes():
    trainer = helpers.sparsifier()
    dense_macs, _ = tfc.estimate_slim_cost(trainer.model)
    controller = BudgetController(target_macs=3 * int(dense_macs))
    with pytest.warns(UserWarning, match="this budget removes nothing"):
        controller.set_model(trainer)


def test_blocks_of_the_wrong_shape_are_refused_at_construction():
    for blocks in ("nonsense", ["a"], {}, {"a": 3}, {"a": ["x", 1]}, {"a": []}):
        with pytest.raises(ValueError, match="Expected 'auto' or a"):
            BudgetController(target_macs=0.5, blocks=blocks)
    # Names are checked against the model when it is attached.
    BudgetController(target_macs=0.5, blocks={"a": ["no_such_layer"]})


def test_default_max_strength_depends_on_the_mode():
    assert BudgetController(target_macs=0.5).max_strength == 10.0
    untargeted = BudgetController(target_macs=0.5, targeted=False)
    assert untargeted.max_strength == 1.0
    assert BudgetController(target_macs=0.5, max_strength=3).max_strength == 3


def test_config_round_trip_keeps_the_mode():
    controller = BudgetController(target_macs=0.3, targeted=False)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(controller)
    )
    assert restored.get_config() == controller.get_config()
    assert restored.targeted is False


def _fashion_subset(n_train, n_test):
    """Fashion-MNIST images average-pooled to 14x14, a fixed subset."""
    bundle = tfc.data.fashion_mnist(limit=max(n_train, n_test), seed=0)
    x, y, x_test, y_test = bundle.arrays()

    def pool(images):
        return images.reshape(-1, 14, 2, 14, 2, 1).mean(axis=(2, 4))

    return (
        (pool(x[:n_train]), y[:n_train]),
        (pool(x_test[:n_test]), y_test[:n_test]),
    )


def _accuracy(model, data):
    logits = model.predict(data[0], batch_size=512, verbose=0)
    return float(np.mean(np.argmax(logits, -1) == data[1]))


@pytest.mark.skipif(
    not os.path.isdir(FASHION_DIR),
    reason="Fashion-MNIST not installed (Debian dataset-fashion-mnist)",
)
def test_fashion_mnist_budget_met_without_collapse():
    keras.utils.set_random_seed(0)
    train, test = _fashion_subset(2048, 1000)
    model = helpers.conv_model(filters=(16, 32), classes=10, size=14)
    trainer = helpers.sparsifier(model, strength=0.0, lr=0.01)
    trainer.fit(*train, epochs=2, batch_size=64, verbose=0)
    tfc.sparsity.recalibrate_batch_norm(model, train[0][:1024])
    dense = _accuracy(model, test)
    trainer.sparsity.strength.assign(0.05)
    controller = BudgetController(target_macs=0.5, update_every=4)
    history = _fit(trainer, controller, 3, *train, batch_size=64)
    # The targeted channels reached exact zeros: no threshold raise.
    assert controller.threshold == controller.training_threshold
    slim = tfc.prune(model, threshold=controller.threshold)
    fraction = (
        tfc.estimate_slim_cost(slim)[0] / tfc.estimate_slim_cost(model)[0]
    )
    assert 0.48 <= fraction <= 0.5, (fraction, history)
    tfc.sparsity.recalibrate_batch_norm(slim, train[0][:1024])
    accuracy = _accuracy(slim, test)
    assert accuracy > 0.5, (accuracy, dense)
    assert accuracy >= dense - 0.15, (accuracy, dense)
