"""Budget scopes: one update loop over the model or over each block."""

import keras
import numpy as np
import pytest

from tests.callbacks import helpers
from tf_compact.callbacks import BudgetController
from tf_compact.callbacks.budget_scopes import BlockBudgets
from tf_compact.callbacks.budget_scopes import GlobalBudget
from tf_compact.callbacks.control_laws import MultiplicativeLaw
from tf_compact.callbacks.control_laws import RampLaw
from tf_compact.callbacks.targeting_rules import EveryChannel
from tf_compact.callbacks.targeting_rules import RequiredChannels


def _controller(**kwargs):
    keras.utils.set_random_seed(0)
    model = helpers.conv_model(filters=(16, 32))
    trainer = helpers.sparsifier(model, strength=0.1)
    controller = BudgetController(**kwargs)
    controller.set_model(trainer)
    return controller


def test_the_controller_composes_law_rule_and_scope():
    controller = BudgetController(target_macs=0.5)
    assert isinstance(controller.law, RampLaw)
    assert isinstance(controller.rule, RequiredChannels)
    assert isinstance(controller.scope, GlobalBudget)
    controller = BudgetController(
        target_params=0.5, blocks="auto", targeted=False
    )
    assert isinstance(controller.law, MultiplicativeLaw)
    assert isinstance(controller.rule, EveryChannel)
    assert isinstance(controller.scope, BlockBudgets)
    assert controller.scope.get_config() == {"blocks": "auto"}
    again = BlockBudgets.from_config(controller.scope.get_config())
    assert again.spec == "auto"
    assert GlobalBudget.from_config(GlobalBudget().get_config()).blocks is None


def test_global_scope_applies_the_law_to_the_global_strength():
    controller = _controller(target_macs=0.5, targeted=False)
    report = controller.measure()
    law = controller.law
    (unit,) = controller.scope.units(controller.rule, report)
    assert unit.measured == report.macs_fraction and unit.target == 0.5
    expected = law.next_strength(
        np.float32(0.1), unit.measured, 0.5, controller.law_context()
    )
    controller.scope.steer(controller, law, report)
    assert controller.strength_value() == pytest.approx(float(expected))
    assert controller.block_strengths() == {}


@pytest.mark.filterwarnings("ignore:BudgetController")
@pytest.mark.parametrize("targeted", [False, True])
def test_block_scope_steers_each_block_from_its_own_cost(targeted):
    controller = _controller(
        target_macs=0.4, blocks="auto", targeted=targeted, max_strength=1.0
    )
    before = controller.block_strengths()
    assert list(before) == controller.steered_blocks() == ["stage1", "stage2"]
    report = controller.measure()
    units = controller.scope.units(controller.rule, report)
    assert [u.name for u in units] == ["stage1", "stage2"]
    context = controller.law_context()
    controller._update({})
    after = controller.block_strengths()
    for unit in units:
        measured = controller.fraction(report, unit.name)
        expected = controller.law.next_strength(
            before[unit.name], measured, 0.4, context
        )
        assert after[unit.name] == pytest.approx(float(expected), rel=1e-5)
    # The global strength is untouched: blocks scale it.
    assert controller.strength_value() == pytest.approx(0.1)
    scales = controller.penalty.channel_scales.numpy()
    assert np.all(scales[controller.scope.channel_block < 0] == 0)
