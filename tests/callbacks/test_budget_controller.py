"""BudgetController: steering to a MACs budget, blocks, final threshold."""

import warnings

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.callbacks import helpers
from tf_compact.callbacks import BudgetController


def _fit(trainer, controller, epochs, n=64):
    x, y = helpers.data(n)
    return trainer.fit(
        x, y, epochs=epochs, batch_size=16, callbacks=[controller], verbose=0
    ).history


def test_strength_rises_until_the_budget_is_met_then_holds():
    trainer = helpers.sparsifier(strength=1e-2, lr=0.02)
    controller = BudgetController(target_macs=0.5, gain=4.0, max_change=4.0)
    history = _fit(trainer, controller, epochs=12)
    macs = np.array(history["slim_macs_fraction"])
    strength = np.array(history["sparsity_strength"])
    assert macs[0] > 0.5
    met = np.nonzero(macs <= 0.5)[0]
    assert met.size, f"budget never met: {macs}"
    first = int(met[0])
    # Each row holds the cost measured at an epoch end and the strength
    # the controller set from it.
    assert first >= 1
    assert np.all(np.diff(strength[:first]) >= 0)
    # Several updates an epoch (`update_every="auto"`): the strength may
    # already have risen during the first epoch.
    assert strength[first - 1] > 1e-2
    inside = (macs >= 0.5 - 0.02) & (macs <= 0.5)
    # Within budget at two epoch ends in a row: held in between.
    held = np.nonzero(inside[1:] & inside[:-1])[0] + 1
    assert held.size
    assert np.allclose(strength[held], strength[held - 1])


def test_the_fallback_zeroes_what_it_prunes_so_slim_equals_trained():
    trainer = helpers.sparsifier(strength=1e-2, lr=0.02)
    # The strength is pinned, so training cannot zero the channels the
    # budget needs: the last-resort fallback is what is tested.
    controller = BudgetController(
        target_macs=0.5, gain=4.0, max_change=4.0, max_strength=1e-2
    )
    with pytest.warns(UserWarning, match="were zeroed in the trained model"):
        _fit(trainer, controller, epochs=2)
    model = trainer.model
    assert controller.met_by_sparsity is False
    assert controller.threshold == controller.training_threshold
    report = tfc.sparsity_report(model, threshold=controller.threshold)
    assert report.macs_fraction <= 0.5
    pruned = tfc.prune(model, threshold=controller.threshold)
    assert tfc.estimate_slim_cost(pruned) == (report.macs, report.params)
    # The trained model computes what the slim one does.
    x, _ = helpers.data(16)
    np.testing.assert_allclose(
        pruned(x, training=False), model(x, training=False), atol=1e-5
    )


def test_the_fallback_zeroes_the_fewest_channels_that_fit():
    trainer = helpers.sparsifier(strength=0.0)
    controller = BudgetController(target_params=0.6)
    controller.set_model(trainer)
    before = np.asarray(controller.penalty.channel_values(trainer.model))
    with pytest.warns(UserWarning, match="were zeroed in the trained model"):
        threshold = controller.fit_threshold()
    assert threshold == controller.training_threshold
    after = np.asarray(controller.penalty.channel_values(trainer.model))
    assert controller.measure(threshold, after).params_fraction <= 0.6
    zeroed = np.nonzero(after < threshold)[0]
    assert zeroed.size
    # The zeroed channels are the smallest, and one fewer misses.
    assert before[zeroed].max() <= np.delete(before, zeroed).min()
    largest = zeroed[np.argmax(before[zeroed])]
    trial = after.copy()
    trial[largest] = before[largest]
    assert controller.measure(threshold, trial).params_fraction > 0.6


def test_absolute_targets_are_fractions_of_the_dense_cost():
    trainer = helpers.sparsifier()
    dense_macs, _ = tfc.estimate_slim_cost(trainer.model)
    controller = BudgetController(target_macs=dense_macs // 4)
    controller.set_model(trainer)
    report = controller.measure()
    assert controller.target_fraction(report) == pytest.approx(
        (dense_macs // 4) / dense_macs
    )


def test_auto_blocks_get_one_strength_each():
    trainer = helpers.sparsifier(strength=1e-2, lr=0.02)
    controller = BudgetController(
        target_macs=0.5, blocks="auto", max_strength=1e-2
    )
    # Per-block budgets fall back to one threshold per block.
    with pytest.warns(UserWarning, match="under its own threshold"):
        history = _fit(trainer, controller, epochs=2)
    names = list(controller.block_strengths())
    assert names == ["stage1", "stage2"]
    for name in names:
        assert len(history[f"sparsity_strength/{name}"]) == 2
        assert len(history[f"slim_macs_fraction/{name}"]) == 2
    scales = controller.penalty.channel_scales.numpy()
    assert scales.shape == (8 + 16,)


def test_named_blocks_and_unblocked_channels():
    trainer = helpers.sparsifier(strength=1e-2)
    model = trainer.model
    first_conv = model.layers[0].name
    controller = BudgetController(
        target_macs=0.5, blocks={"first": [first_conv]}
    )
    controller.set_model(trainer)
    scales = controller.penalty.channel_scales.numpy()
    np.testing.assert_array_equal(scales[:8], 1.0)
    np.testing.assert_array_equal(scales[8:], 0.0)
    slim, dense = controller.measure().block_macs["first"]
    assert slim == dense > 0


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received neither"):
        BudgetController()
    with pytest.raises(ValueError, match="one target with `blocks`"):
        BudgetController(target_macs=0.5, target_params=0.5, blocks="auto")
    with pytest.raises(ValueError, match="target_params"):
        BudgetController(target_macs=0.5, target_params=0.0)
    with pytest.raises(ValueError, match="target_macs"):
        BudgetController(target_macs=-0.5)
    with pytest.raises(ValueError, match="absolute count"):
        BudgetController(target_macs=2.5)
    trainer = helpers.sparsifier()
    with pytest.raises(ValueError, match="no_such_layer"):
        BudgetController(
            target_macs=0.5, blocks={"a": ["no_such_layer"]}
        ).set_model(trainer)
    with pytest.raises(ValueError, match="blocks"):
        BudgetController(target_macs=0.5, blocks=["a"]).set_model(trainer)


def test_error_without_a_penalty():
    model = helpers.conv_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = helpers.data(8)
    with pytest.raises(ValueError, match="needs a sparsity penalty"):
        model.fit(
            x, y, callbacks=[BudgetController(target_macs=0.5)], verbose=0
        )


def test_config_round_trip():
    controller = BudgetController(
        target_params=0.3, blocks={"a": "conv"}, update_every=10
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(controller)
    )
    assert restored.get_config() == controller.get_config()


@pytest.mark.parametrize("proximal", [False, True])
def test_a_penalty_without_exact_zeros_is_named_at_fit_start(proximal):
    trainer = helpers.sparsifier(proximal=proximal)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(trainer, BudgetController(target_macs=0.5), epochs=1, n=16)
    said = [str(w.message) for w in caught if "not proximal" in str(w.message)]
    assert bool(said) == (not proximal), said
    # A penalty without a proximal step is not told to use one.
    trainer = helpers.sparsifier(proximal=False)
    trainer.sparsity.apply_proximal = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(trainer, BudgetController(target_macs=0.5), epochs=1, n=16)
    assert not [w for w in caught if "not proximal" in str(w.message)]
    # SparsityController does not need exact zeros: no such warning.
    trainer = helpers.sparsifier(proximal=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        controller = tfc.callbacks.SparsityController(data=helpers.data(16))
        _fit(trainer, controller, epochs=1, n=16)
    assert not [w for w in caught if "not proximal" in str(w.message)]


@pytest.mark.parametrize("blocks", [None, "auto"])
def test_zero_epochs_leave_the_model_as_it_is(blocks):
    x, y = helpers.data(16)
    trainer = helpers.sparsifier()
    before = [w.numpy().copy() for w in trainer.model.weights]
    controller = BudgetController(target_macs=0.3, blocks=blocks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(x, y, epochs=0, callbacks=[controller], verbose=0)
    after = [w.numpy() for w in trainer.model.weights]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert controller.threshold == controller.training_threshold


def test_bn_gamma_budget_slims_to_the_budget_and_to_the_trained_function():
    model = helpers.conv_model(filters=(16, 16))
    trainer = tfc.Sparsifier(model, sparsity=tfc.BNGammaL1(1e-3, proximal=True))
    trainer.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    controller = BudgetController(target_macs=0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(trainer, controller, epochs=4, n=128)
    # A channel with a zero BN scale still adds its BN shift: said, and
    # zeroed, so what slimming removes is gone from the trained model.
    assert any("BN shift" in str(w.message) for w in caught)
    pruned = tfc.prune(model, threshold=controller.threshold)
    dense_macs = tfc.estimate_slim_cost(model)[0]
    assert tfc.estimate_slim_cost(pruned)[0] <= 0.5 * dense_macs
    x, _ = helpers.data(16)
    np.testing.assert_allclose(
        pruned(x, training=False), model(x, training=False), atol=1e-5
    )
