"""An interrupted fit resumed by BackupAndRestore continues exactly."""

import keras
import numpy as np
import pytest

from tests.callbacks import helpers
from tf_compact.callbacks import BudgetController
from tf_compact.callbacks import SparsityController


class Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("interrupted")


def _budget(x, y):
    return BudgetController(target_macs=0.4, blocks="auto", update_every=2)


def _targeted(x, y):
    return BudgetController(target_macs=0.4, update_every=2)


def _gap(x, y):
    return SparsityController(data=(x[:16], y[:16]), update_every=3)


def _run(make_controller, extra_callbacks, x, y):
    keras.utils.set_random_seed(7)
    trainer = helpers.sparsifier(strength=1e-2, lr=0.02)
    controller = make_controller(x, y)
    history = trainer.fit(
        x,
        y,
        epochs=3,
        batch_size=16,
        shuffle=False,
        callbacks=[controller, *extra_callbacks],
        verbose=0,
    )
    return trainer, history


@pytest.mark.filterwarnings("ignore:BudgetController")
@pytest.mark.parametrize("make_controller", [_budget, _targeted, _gap])
def test_interrupted_fit_resumes_exactly(tmp_path, make_controller):
    x, y = helpers.data(48)
    reference, full = _run(make_controller, [], x, y)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        _run(make_controller, [backup, Interrupt()], x, y)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    resumed, rest = _run(make_controller, [backup], x, y)
    assert len(rest.history["sparsity_strength"]) == 1
    np.testing.assert_allclose(
        rest.history["sparsity_strength"],
        full.history["sparsity_strength"][2:],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        rest.history["slim_macs_fraction"],
        full.history["slim_macs_fraction"][2:],
    )
    assert len(resumed.sparsity.weights) == len(reference.sparsity.weights)
    for a, b in zip(resumed.sparsity.weights, reference.sparsity.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5)
    for a, b in zip(resumed.model.weights, reference.model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
