"""The benchmark results: kept by experiment, indexed, and each new result
records the machine, the commit and the command that made it."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
sys.path.insert(0, BENCH)

import common  # noqa: E402


def test_index_is_up_to_date():
    done = subprocess.run(
        [sys.executable, os.path.join(BENCH, "make_index.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_results_live_in_experiment_folders():
    loose = [
        name
        for name in os.listdir(os.path.join(BENCH, "results"))
        if os.path.isfile(os.path.join(BENCH, "results", name))
        and name != "INDEX.md"
    ]
    assert loose == []


def test_a_result_records_machine_commit_and_command(tmp_path):
    path = common.result_path(str(tmp_path), "e2e/vgg/x/seed3", ".json")
    common.write_json(path, {"arms": [1]})
    with open(path, encoding="utf-8") as f:
        written = json.load(f)
    assert written["arms"] == [1]
    run = written["run"]
    assert "cores" in run["machine"]
    assert len(run["git_sha"].split("+")[0]) == 40
    assert run["command"].startswith("python ")
    assert path == os.path.join(str(tmp_path), "e2e", "vgg", "x", "seed3.json")
