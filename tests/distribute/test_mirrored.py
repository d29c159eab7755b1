"""The Distiller, the penalties and the controllers under MirroredStrategy
over two logical CPUs train as on one device."""

import pytest

from tests.distribute import checks

FAST = ("distill_controller", "budget", "contrastive")
SLOW = (
    "budget_blocks",
    "gradual",
    "iterative",
    "proximal_step",
    "sparsifier_controller",
    "bn_gamma",
)


def _check(scenarios, tmp_path):
    results = checks.run(
        ["none", "mirrored"], scenarios, tmp_path / "results.json"
    )
    assert results["none"]["name"] == "none (1 replica)"
    assert results["mirrored"]["name"] == "mirrored (2 replicas)"
    assert results["mirrored"]["chief"]
    for scenario in scenarios:
        checks.assert_same(results["none"], results["mirrored"], scenario)


def test_distiller_and_controllers_on_two_replicas(tmp_path):
    _check(FAST, tmp_path)


@pytest.mark.slow
def test_every_controller_on_two_replicas(tmp_path):
    _check(SLOW, tmp_path)
