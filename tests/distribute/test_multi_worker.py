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
