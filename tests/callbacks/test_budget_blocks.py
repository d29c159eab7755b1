"""Per-block budgets: each block of the slim model meets its own budget."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.callbacks import helpers
from tf_compact.callbacks import BudgetController
from tf_compact.surgery.cost import cost_from_keep


def _trainer(filters=(16, 32)):
    keras.utils.set_random_seed(0)
    model = helpers.conv_model(filters=filters)
    return helpers.sparsifier(model, strength=0.1, lr=0.02)


def _block_fractions(model, slim, blocks):
    dense_graph, slim_graph = tfc.ChannelGraph(model), tfc.ChannelGraph(slim)
    out = {}
    for name, layers in blocks.items():
        dense = cost_from_keep(dense_graph, None, layers)[0]
        if dense:
            out[name] = cost_from_keep(slim_graph, None, layers)[0] / dense
    return out


def test_a_block_without_prunable_channels_is_reported_and_left_out():
    controller = BudgetController(target_macs=0.5, blocks="auto")
    with pytest.warns(UserWarning, match=r"\['head'\] have no prunable"):
        controller.set_model(_trainer())
    assert list(controller._blocks) == ["stage1", "stage2", "head"]
    assert controller.steered_blocks() == ["stage1", "stage2"]


@pytest.mark.filterwarnings("ignore:BudgetController")
@pytest.mark.parametrize("target", [0.5, 0.3])
def test_block_choice_meets_every_block_and_is_minimal(target):
    controller = BudgetController(target_macs=target, blocks="auto")
    controller.set_model(_trainer())
    chosen = controller.penalty.channel_weights.numpy() > 0.5
    values = controller.measure().values
    zeroed = np.where(chosen, 0.0, values)
    report = controller.measure(values=zeroed)
    for name in controller.steered_blocks():
        assert controller.fraction(report, name) <= target
    # Sparing the last chosen channel of a block breaks that block.
    for i, name in enumerate(controller.steered_blocks()):
        mine = np.flatnonzero(chosen & (controller._channel_block == i))
        if not mine.size:
            continue
        spared = zeroed.copy()
        spared[mine[np.argmax(values[mine])]] = values.max() + 1
        fraction = controller.fraction(controller.measure(values=spared), name)
        assert fraction > target


@pytest.mark.filterwarnings("ignore:BudgetController")
@pytest.mark.parametrize("target", [0.5, 0.3])
def test_each_block_of_the_pruned_model_meets_its_budget(target):
    x, y = helpers.data(64)
    trainer = _trainer()
    controller = BudgetController(target_macs=target, blocks="auto")
    history = trainer.fit(
        x, y, epochs=8, batch_size=16, callbacks=[controller], verbose=0
    ).history
    assert controller.threshold == controller.training_threshold
    slim = tfc.prune(trainer.model, threshold=controller.threshold)
    fractions = _block_fractions(trainer.model, slim, controller._blocks)
    for name in controller.steered_blocks():
        assert fractions[name] <= target + 0.02, fractions
        logged = history[f"slim_macs_fraction/{name}"][-1]
        assert logged == pytest.approx(fractions[name])
    # One strength per block, raised (from the initial 0.1; possibly
    # within the first epoch) while the block was over budget.
    strengths = history["sparsity_strength/stage1"]
    assert strengths[-1] > 0.1


def test_threshold_fallback_meets_each_block_without_overshooting():
    # No sparsity in one short epoch: the train-end fallback prunes.
    x, y = helpers.data(32)
    keras.utils.set_random_seed(0)
    model = helpers.conv_model(filters=(16, 32))
    trainer = helpers.sparsifier(model, strength=0.0, lr=0.02)
    controller = BudgetController(
        target_macs=0.5, blocks="auto", max_strength=1e-6, min_strength=1e-7
    )
    with pytest.warns(UserWarning, match=r"stage1 50\.0%.*budget: macs 50"):
        trainer.fit(
            x, y, epochs=1, batch_size=16, callbacks=[controller], verbose=0
        )
    assert controller.met_by_sparsity is False
    assert controller.threshold == controller.training_threshold
    slim = tfc.prune(trainer.model, threshold=controller.threshold)
    fractions = _block_fractions(trainer.model, slim, controller._blocks)
    for name in controller.steered_blocks():
        # Each block at its budget, none pruned far past it.
        assert 0.4 < fractions[name] <= 0.5 + 1e-6, fractions
