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


@pytest.mark.slow
def test_compress_with_a_batch_smaller_than_the_replicas(tmp_path):
    # The last batch (one example) is left out on two replicas: without
    # it, batch normalization over the empty replica made the student NaN.
    name = "compress_small_last_batch"
    results = checks.run(["none", "mirrored"], [name], tmp_path / "r.json")
    assert results["mirrored"][name]["finite"]
    assert results["none"][name]["finite"]
    widths = [results[key][name]["widths"] for key in ("none", "mirrored")]
    assert widths[0] == widths[1]
