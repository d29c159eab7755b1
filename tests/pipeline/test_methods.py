"""tfc.methods: settings checked at construction, configs that round-trip."""

import functools
import json

import numpy as np
import pytest

import tf_compact as tfc
from tf_compact import methods

EXAMPLES = [
    methods.OneShot(target_macs=0.25, allocation="sensitivity", round_to=8),
    methods.OneShot(target_latency=1.5, target_params=40_000),
    methods.OneShot(widths={"fc": 6, "conv1": 4}, importance="taylor"),
    methods.Iterative(target_macs=0.3, rounds=3, importance="l1"),
    methods.Gradual(target_params=0.5, importance="bn_gamma", round_to=4),
    methods.Budget(target_macs=0.25, target_params=0.5, strength=0.01),
    methods.Controller(strength=1e-3),
    methods.Width(0.5),
    methods.Auto(target_macs=0.5),
    methods.Training(finetune_epochs=0, lighten=("gap_head",)),
    methods.Export(tflite_modes=("int8",), num_threads=2),
]


@pytest.mark.parametrize("method", EXAMPLES, ids=repr)
def test_config_round_trips_through_json(method):
    config = json.loads(json.dumps(method.get_config()))
    rebuilt = type(method).from_config(config)
    assert rebuilt == method
    assert rebuilt.get_config() == method.get_config()
    assert repr(rebuilt) == repr(method)


def test_repr_shows_the_settings_that_differ_from_the_defaults():
    method = methods.OneShot(target_macs=0.25, round_to=8)
    assert repr(method) == "OneShot(target_macs=0.25, round_to=8)"
    assert repr(methods.Training()) == "Training()"


def test_public_and_reached_from_the_package():
    assert tfc.methods.OneShot is methods.OneShot
    assert "methods" in tfc.__all__


def test_values_are_plain_python_and_widths_sorted():
    method = methods.OneShot(
        target_macs=np.float32(0.5),
        widths={"b": 2, "a": 3},
        round_to=np.int64(8),
    )
    assert type(method.target_macs) is float and method.target_macs == 0.5
    assert type(method.round_to) is int
    assert list(method.widths) == ["a", "b"]


def test_objects_cannot_be_changed_but_replaced():
    method = methods.OneShot(target_macs=0.25)
    with pytest.raises(AttributeError, match="replace"):
        method.round_to = 8
    changed = method.replace(round_to=8)
    assert changed.round_to == 8 and method.round_to is None
    with pytest.raises(ValueError, match="round_to=0"):
        method.replace(round_to=0)


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: methods.OneShot(), ValueError, "needs a budget"),
        (lambda: methods.Budget(), ValueError, "needs a budget"),
        (lambda: methods.Iterative(), ValueError, "needs a budget"),
        (lambda: methods.Gradual(target_macs=1.5), ValueError, "1.5"),
        (
            lambda: methods.Gradual(target_macs=0.5, importance="taylor"),
            ValueError,
            "importance='taylor'",
        ),
        (
            lambda: methods.OneShot(target_macs=0.5, allocation="x"),
            ValueError,
            "allocation='x'",
        ),
        (lambda: methods.OneShot(widths={"conv": 0}), ValueError, "widths="),
        (lambda: methods.OneShot(widths={}), ValueError, "widths="),
        (
            lambda: methods.OneShot(target_latency=-1.0),
            ValueError,
            "target_latency=-1.0",
        ),
        (
            lambda: methods.OneShot(target_latency=2.0, widths={"c": 2}),
            ValueError,
            "widths",
        ),
        (
            lambda: methods.OneShot(target_macs=0.5, latency_table="t.json"),
            ValueError,
            "latency_table='t.json'",
        ),
        (lambda: methods.Width(), ValueError, "width_multiplier=None"),
        (lambda: methods.Width(1.5), ValueError, "width_multiplier=1.5"),
        (
            lambda: methods.Controller(strength=-1.0),
            ValueError,
            "strength=-1.0",
        ),
        (
            lambda: methods.Training(student_loss_weight=1.5),
            ValueError,
            "student_loss_weight=1.5",
        ),
        (
            lambda: methods.Training(lighten=("shrink",)),
            ValueError,
            "lighten='shrink'",
        ),
        (lambda: methods.Training(feature_kd=1), TypeError, "feature_kd=1"),
        (
            lambda: methods.Export(tflite_modes=("int4",)),
            ValueError,
            "tflite_modes='int4'",
        ),
        (
            lambda: methods.Export(tflite_modes="int8"),
            ValueError,
            "tflite_modes='int8'",
        ),
        (lambda: methods.Export(num_threads=0), ValueError, "num_threads=0"),
    ],
)
def test_invalid_settings_are_refused_at_construction(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(
    "cls", [methods.Budget, methods.Gradual, methods.Iterative]
)
def test_latency_budget_refused_where_it_cannot_be_met(cls):
    with pytest.raises(ValueError, match="OneShot\\(target_latency"):
        cls(target_macs=0.5, target_latency=2.0)
    with pytest.raises(ValueError, match="target_latency=2.0"):
        methods.Controller(target_latency=2.0)


def test_get_resolves_names_and_auto():
    assert methods.get("controller") == methods.Controller()
    assert methods.get("auto") == methods.Controller()
    assert methods.get(methods.Auto(target_macs=0.5)) == methods.OneShot(
        target_macs=0.5
    )
    assert methods.get(methods.Auto(target_latency=2.0)) == methods.OneShot(
        target_latency=2.0
    )
    with pytest.raises(ValueError, match="method='magic'"):
        methods.get("magic")
    with pytest.raises(ValueError, match="needs a budget"):
        methods.get("oneshot")
    with pytest.raises(TypeError, match="method=3"):
        methods.get(3)
    with pytest.raises(TypeError, match="method=Training"):
        methods.get(methods.Training())


def test_training_keeps_lighten_callables_and_records_their_names():
    def halve(model):
        return model

    training = methods.Training(lighten=["gap_head", halve])
    assert training.transforms == ["gap_head", halve]
    assert training.get_config()["lighten"] == ["gap_head", "halve"]


def test_a_partial_lighten_transform_is_recorded_with_its_arguments():
    quarter = functools.partial(tfc.lighten.width, multiplier=0.25)
    half = functools.partial(tfc.lighten.width, multiplier=0.5)
    names = [
        methods.Training(lighten=[t]).get_config()["lighten"]
        for t in (quarter, half)
    ]
    # A resumed run compares these: another multiplier is another run.
    assert names == [["width(multiplier=0.25)"], ["width(multiplier=0.5)"]]
