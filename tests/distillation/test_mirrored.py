"""The Distiller under tf.distribute.MirroredStrategy (2 logical CPUs)."""

from tests.python_child import last_json
from tests.python_child import run_python


def test_two_replicas_train_like_one_device():
    result = last_json(run_python(["-m", "tests.distillation.mirrored_check"]))
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
