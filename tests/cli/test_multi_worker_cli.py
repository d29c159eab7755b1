"""`tf-compact compress --distribution_strategy=multi_worker` on two
workers on localhost."""

import json
import os
import subprocess
import sys

import pytest

from tests.distribute import checks


@pytest.mark.slow
def test_compress_command_runs_on_two_workers(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    cluster = [f"localhost:{p}" for p in checks.free_ports(2)]
    out = str(tmp_path / "run")
    command = [
        sys.executable,
        "-m",
        "tf_compact.cli.main",
        "compress",
        "--distribution_strategy=multi_worker",
        "--limit=256",
        "--batch_size=64",
        "--teacher_epochs=1",
        "--epochs=1",
        "--finetune_epochs=0",
        "--method=oneshot",
        "--target_macs=0.5",
        "--tflite_mode=float32",
        f"--output_dir={out}",
    ]
    procs = []
    for index in range(2):
        config = {
            "cluster": {"worker": cluster},
            "task": {"type": "worker", "index": index},
        }
        env = dict(
            os.environ,
            PYTHONPATH=root,
            TF_CPP_MIN_LOG_LEVEL="2",
            TF_CONFIG=json.dumps(config),
        )
        procs.append(
            subprocess.Popen(
                command,
                env=env,
                cwd=str(tmp_path),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for proc in procs:
        text, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, text[-4000:]
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    assert report["strategy"] == "multi_worker (2 replicas)"
    assert report["student"]["macs"] <= 0.5 * report["teacher"]["macs"]
