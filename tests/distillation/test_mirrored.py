"""The Distiller under tf.distribute.MirroredStrategy (2 logical CPUs)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_two_replicas_train_like_one_device():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.abspath(ROOT), env.get("PYTHONPATH", "")]
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tests.distillation.mirrored_check"],
        cwd=os.path.abspath(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert abs(result["loss_single"] - result["loss_mirrored"]) < 1e-4 * abs(
        result["loss_single"]
    )
    assert result["max_weight_change"] > 1e-3
    assert result["max_weight_diff"] < 1e-5
    assert result["teacher_change"] == 0.0
    # Three steps of a global batch of 8, gathered from both replicas.
    assert result["bank_pointer"] == 24 % 16
    assert result["contrastive_loss"] > 0.0
    for key in ("logits_kd", "logits_distillation", "student_reg_loss"):
        assert key in result["keys"]
