"""Control laws and targeting rules of the controllers, without training."""

import math
import types

import numpy as np
import pytest

from tf_compact.callbacks import penalty_controller
from tf_compact.callbacks.control_laws import LawContext
from tf_compact.callbacks.control_laws import MultiplicativeLaw
from tf_compact.callbacks.control_laws import RampLaw
from tf_compact.callbacks.control_laws import bounded_exp
from tf_compact.callbacks.targeting_rules import EveryChannel
from tf_compact.callbacks.targeting_rules import RequiredChannels

CONTEXT = LawContext(min_strength=1e-6, max_strength=1.0, max_change=2.0)


def test_multiplicative_law_rises_over_holds_in_band_and_eases_below():
    law = MultiplicativeLaw(gain=2.0, tolerance=0.1)
    over = law.factor(0.6, 0.5, CONTEXT)
    assert over == pytest.approx(math.exp(2.0 * 0.1 / 0.5))
    assert law.factor(0.45, 0.5, CONTEXT) == 1.0
    below = law.factor(0.3, 0.5, CONTEXT)
    assert below == pytest.approx(math.exp(2.0 * (0.3 - 0.5 + 0.1) / 0.5))
    # The exponent is clipped to +-log(max_change).
    assert law.factor(50.0, 0.5, CONTEXT) == pytest.approx(2.0)
    assert law.factor(0.0, 0.2, CONTEXT) == pytest.approx(0.5)


def test_next_strength_floors_and_bounds():
    law = MultiplicativeLaw(gain=2.0, tolerance=0.0)
    # From zero, the strength restarts at min_strength.
    assert law.next_strength(0.0, 0.6, 0.5, CONTEXT) == pytest.approx(
        1e-6 * math.exp(0.4)
    )
    assert law.next_strength(0.9, 5.0, 0.5, CONTEXT) == 1.0
    assert law.next_strength(2e-6, 0.0, 0.5, CONTEXT) == pytest.approx(1e-6)
    value = np.asarray(np.float32(0.25))
    assert law.next_strength(value, 0.6, 0.5, CONTEXT).dtype == np.float32


def test_ramp_law_grows_at_least_at_the_ramp_rate_and_never_falls():
    context = LawContext(1e-6, 10.0, 2.0, updates=48)
    law = RampLaw(gain=2.0, ramp=0.25)
    rate = math.log(10.0 / 1e-6) / (0.25 * 48)
    assert law.rate(context) == pytest.approx(rate)
    assert law.factor(0.5, 0.5, context) == 1.0
    assert law.factor(0.1, 0.5, context) == 1.0
    # Barely over: the ramp rate, above log(max_change).
    assert rate > math.log(2.0)
    assert law.factor(0.501, 0.5, context) == pytest.approx(math.exp(rate))
    # Far over: limited by max(log(max_change), rate).
    assert law.factor(50.0, 0.5, context) == pytest.approx(math.exp(rate))


def test_ramp_law_without_ramp_is_the_bounded_proportional_term():
    law = RampLaw(gain=1.0, ramp=None)
    assert law.rate(CONTEXT) == 0.0
    assert law.factor(0.55, 0.5, CONTEXT) == pytest.approx(math.exp(0.1))
    assert law.factor(5.0, 0.5, CONTEXT) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "law", [MultiplicativeLaw(3.0, 0.05), RampLaw(0.5, ramp=None)]
)
def test_laws_round_trip_through_their_config(law):
    again = type(law).from_config(law.get_config())
    assert again.get_config() == law.get_config()
    assert again.factor(0.7, 0.5, CONTEXT) == law.factor(0.7, 0.5, CONTEXT)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: RampLaw(ramp=1.5), "ramp=1.5"),
        (lambda: RampLaw(gain=0.0), "gain"),
        (lambda: MultiplicativeLaw(tolerance=-1.0), "tolerance"),
    ],
)
def test_laws_reject_bad_settings(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bounded_exp_is_shared_with_the_base_controller():
    assert penalty_controller.bounded_exp is bounded_exp


def _report(macs, params):
    return types.SimpleNamespace(
        macs_fraction=macs,
        params_fraction=params,
        dense_macs=1000,
        dense_params=100,
    )


def test_rule_measures_the_binding_target():
    rule = EveryChannel(target_macs=0.5, target_params=20)
    assert rule.kinds == ("macs", "params")
    report = _report(0.6, 0.3)
    assert rule.targets(report) == {"macs": 0.5, "params": 0.2}
    assert rule.binding(report) == ("params", 0.3, 0.2)
    assert not rule.meets(report, rule.targets(report), [None])
    assert rule.meets(_report(0.5, 0.2), rule.targets(report), [None])


def test_rules_round_trip_and_say_whether_they_target():
    for cls, targeted in ((EveryChannel, False), (RequiredChannels, True)):
        rule = cls(target_params=0.3)
        assert rule.targeted is targeted
        assert cls.from_config(rule.get_config()).get_config() == {
            "target_macs": None,
            "target_params": 0.3,
        }
    with pytest.raises(ValueError, match="target"):
        EveryChannel()
