"""When the controllers update, and what they cost the training loop."""

import keras
import numpy as np
import pytest

from tests.callbacks import helpers
from tf_compact.callbacks import BudgetController
from tf_compact.callbacks import SparsityController


class CountingController(SparsityController):
    """Records the optimizer step of every update instead of acting."""

    def __init__(self, data, **kwargs):
        super().__init__(data=data, **kwargs)
        self.steps = []

    def _update(self, logs):
        self.steps.append(self._optimizer_step())


def test_epoch_updates_leave_the_batch_hook_to_keras():
    default = keras.src.utils.python_utils.is_default
    x, y = helpers.data(8)
    epoch = SparsityController(data=(x, y))
    stepped = SparsityController(data=(x, y), update_every=5)
    assert default(epoch.on_train_batch_end)
    assert not default(stepped.on_train_batch_end)
    budget = BudgetController(target_macs=0.5, update_every="epoch")
    assert default(budget.on_train_batch_end)
    # The default spreads updates over the fit's steps.
    assert not default(BudgetController(target_macs=0.5).on_train_batch_end)


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_an_update_per_window_of_steps(steps_per_execution):
    x, y = helpers.data(24)
    trainer = helpers.sparsifier(proximal=False)
    trainer.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution,
    )
    controller = CountingController((x[:4], y[:4]), update_every=4)
    trainer.fit(x, y, batch_size=2, epochs=2, callbacks=[controller], verbose=0)
    # 12 steps per epoch; executions end every `steps_per_execution` steps.
    ends = np.arange(steps_per_execution, 25, steps_per_execution)
    expected = [s for s in ends if s // 4 > (s - steps_per_execution) // 4]
    assert controller.steps == expected
