"""Two worker processes on localhost (TF_CONFIG), each under
MultiWorkerMirroredStrategy, train as one process on one device."""

import pytest

from tests.distribute import checks
from tests.distribute import scenarios


@pytest.mark.slow
def test_two_workers_train_like_one_device(tmp_path):
    names = sorted(scenarios.SCENARIOS)
    reference = checks.run(["none"], names, tmp_path / "single.json")
    workers = checks.run_workers(names, str(tmp_path))
    assert [w["name"] for w in workers] == ["multi_worker (2 replicas)"] * 2
    assert [w["chief"] for w in workers] == [True, False]
    for worker in workers:
        for name in names:
            checks.assert_same(reference["none"], worker, name)


@pytest.mark.slow
def test_one_worker_without_tf_config(tmp_path):
    names = ["budget", "sparsifier_controller"]
    results = checks.run(
        ["multi_worker", "none"], names, tmp_path / "results.json"
    )
    assert results["multi_worker"]["name"] == "multi_worker (1 replica)"
    assert results["multi_worker"]["chief"]
    for name in names:
        # One replica: the same numbers, and the state is still mirrored.
        checks.assert_same(results["none"], results["multi_worker"], name)
