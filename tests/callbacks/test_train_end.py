"""The controllers' train-end work survives a later weight restore, and
recalibrates BN on the training rows only."""

import warnings

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.callbacks import helpers
from tf_compact.callbacks import train_end


def _first_epoch_is_best():
    """Logs `-epoch`, and an EarlyStopping that restores epoch 0."""
    tag = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: logs.update(minus_epoch=-epoch)
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="minus_epoch",
        mode="max",
        patience=100,
        restore_best_weights=True,
    )
    return tag, stop


def _macs_kept(model, threshold):
    pruned = tfc.prune(model, threshold=threshold)
    return tfc.profile(pruned).macs / tfc.profile(model).macs


@pytest.mark.parametrize("controller_first", [True, False])
def test_budget_is_met_whatever_the_order_with_early_stopping(
    controller_first,
):
    keras.utils.set_random_seed(0)
    x, y = helpers.data(n=128)
    trainer = helpers.sparsifier(strength=1e-4, lr=0.05)
    budget = tfc.callbacks.BudgetController(target_macs=0.3)
    tag, stop = _first_epoch_is_best()
    order = [budget, stop] if controller_first else [stop, budget]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(
            x, y, epochs=4, batch_size=16, verbose=0, callbacks=[tag, *order]
        )
        kept = _macs_kept(trainer.model, budget.threshold)
    assert stop.stopped_epoch == 0 and stop.best_epoch == 0
    assert kept <= 0.3 + 1e-6
    restored = [w for w in caught if "EarlyStopping" in str(w.message)]
    assert bool(restored) == controller_first
    # Only the first read after training redoes the work.
    assert budget.threshold == budget.threshold
    assert _macs_kept(trainer.model, budget.threshold) == kept


def test_recalibration_is_redone_after_a_restore():
    keras.utils.set_random_seed(0)
    x, y = helpers.data(n=64)
    trainer = helpers.sparsifier(strength=1e-4)
    controller = tfc.callbacks.SparsityController(
        data=(x[:32], y[:32]), batch_statistics=False
    )
    tag, stop = _first_epoch_is_best()
    trainer.fit(
        x,
        y,
        epochs=2,
        batch_size=16,
        verbose=0,
        callbacks=[tag, controller, stop],
    )
    bn = trainer.model.layers[1]
    restored = bn.moving_mean.numpy().copy()
    with pytest.warns(UserWarning, match="EarlyStopping"):
        controller.redo_if_restored()
    clone = keras.models.clone_model(trainer.model)
    clone.set_weights(trainer.model.get_weights())
    tfc.sparsity.recalibrate_batch_norm(clone, x)
    np.testing.assert_allclose(
        bn.moving_mean.numpy(),
        clone.layers[1].moving_mean.numpy(),
        atol=1e-5,
    )
    assert not np.allclose(restored, bn.moving_mean.numpy(), atol=1e-5)


def test_validation_rows_are_left_out_of_the_recalibration():
    keras.utils.set_random_seed(0)
    x, y = helpers.data(n=128)
    x[96:] += 5.0  # the last quarter, which validation_split holds out
    trainer = helpers.sparsifier(strength=1e-4)
    trainer.fit(
        x,
        y,
        epochs=1,
        batch_size=16,
        verbose=0,
        validation_split=0.25,
        callbacks=[tfc.callbacks.BudgetController(target_macs=0.9)],
    )
    clone = keras.models.clone_model(trainer.model)
    clone.set_weights(trainer.model.get_weights())
    tfc.sparsity.recalibrate_batch_norm(clone, x[:96])
    np.testing.assert_allclose(
        trainer.model.layers[1].moving_mean.numpy(),
        clone.layers[1].moving_mean.numpy(),
        atol=1e-4,
    )


def test_training_rows_cut_arrays_as_keras_splits_them():
    class Trainer:
        fit_validation_split = 0.3

    x, y = np.arange(10), np.arange(10) * 2
    rows = train_end.training_rows((x, y), Trainer())
    np.testing.assert_array_equal(rows[0], np.arange(7))
    np.testing.assert_array_equal(rows[1], np.arange(7) * 2)
    cut = train_end.training_rows({"a": x}, Trainer())
    np.testing.assert_array_equal(cut["a"], np.arange(7))
    assert train_end.training_rows((x, y), object())[0] is x
