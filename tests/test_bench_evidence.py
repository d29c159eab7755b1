"""`benchmarks/bench_evidence.py` end to end on a tiny untrained teacher,
and its summary's paired statistics."""

import glob
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
sys.path.insert(0, BENCH)

from tests.bench_scripts import defined_flags  # noqa: E402
from tests.bench_scripts import import_script  # noqa: E402
from tests.bench_scripts import run_script  # noqa: E402
from tests.bench_scripts import tiny_teacher  # noqa: E402

bench_evidence = import_script("bench_evidence")
import common  # noqa: E402


def _record(seed, accs, teacher_acc=0.9):
    arms = {
        key: {
            "accuracy": acc,
            "macs": 100,
            "params": 10,
            "float32_ms": 0.5,
        }
        for key, acc in accs.items()
    }
    return {
        "seed": seed,
        "epochs": 2,
        "teacher": {
            "accuracy": teacher_acc,
            "macs": 1000,
            "params": 1000,
            "float32_ms": 2.0,
        },
        "arms": arms,
    }


def test_paired_mean_and_standard_error():
    assert common.paired([]) == (None, None)
    assert common.paired([0.5]) == (0.5, None)
    mean, se = common.paired([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert se == pytest.approx((1.0 / 3) ** 0.5)


def test_summary_pairs_seeds_and_states_the_goals():
    records = [
        _record(1, {"oneshot": 0.90, "l1": 0.85}),
        _record(0, {"oneshot": 0.89, "l1": 0.86}),
    ]
    text = bench_evidence.summarize(records, "vgg", "4x10", "python x")
    # Differences 3 and 5 pp: mean 4, standard error 1, ahead by 4 SE.
    assert (
        "| tf_compact one-shot sensitivity + KD | one-shot L1 prune + "
        "fine-tune | +4.00 ± 1.00 | yes |"
    ) in text
    # Accuracy 89.5% ± 0.5, -0.50 pp from the teacher, 10x MACs, 100x
    # params, speed-up 4x: ratio 0.40.
    assert (
        "| tf_compact one-shot sensitivity + KD | 89.50% ± 0.50 | "
        "-0.50 ± 0.50 | 10.0x | 100.0x | 4.00x | 0.40 |"
    ) in text
    assert "within 0.3 pp of the teacher: missed (-0.50 pp)" in text
    assert "speed-up / MACs reduction >= 0.85: missed (0.40)" in text
    assert "budget" not in text.split("Paired")[1]


def test_speed_up_uses_the_teacher_timed_beside_each_arm():
    records = [_record(0, {"oneshot": 0.9}), _record(1, {"oneshot": 0.9})]
    for record in records:
        # The teacher's first timing (2.0 ms) was taken under other load.
        record["arms"]["oneshot"]["teacher_float32_ms"] = 3.0
    text = bench_evidence.summarize(records, "vgg", "4x10", "c")
    # 3.0 / 0.5 = 6x over a 10x MACs reduction.
    assert "| 10.0x | 100.0x | 6.00x | 0.60 |" in text


def test_summary_reports_a_failed_arm_apart():
    records = [_record(0, {"oneshot": 0.9, "l1": 0.8})]
    records[0]["arms"]["budget"] = {"error": "ValueError: cannot reach"}
    text = bench_evidence.summarize(records, "vgg", "10x50", "c")
    assert (
        "tf_compact budget controller + slim + KD failed on seed 0: "
        "ValueError: cannot reach"
    ) in text
    assert "| tf_compact budget controller + slim + KD |" not in text


def test_summary_with_one_seed_has_no_standard_error():
    text = bench_evidence.summarize(
        [_record(0, {"oneshot": 0.9, "scratch": 0.8})], "vgg", "10x50", "c"
    )
    assert "| +10.00 | n/a (one seed) |" in text
    assert "within 1.0 pp of the teacher: met (+0.00 pp)" in text


def test_a_tie_is_not_ahead_and_sparse_training_is_paired_with_one_shot():
    records = [
        _record(0, {"oneshot": 0.90, "budget": 0.88, "l1": 0.90}),
        _record(1, {"oneshot": 0.90, "budget": 0.89, "l1": 0.90}),
    ]
    text = bench_evidence.summarize(records, "vgg", "10x50", "c")
    assert (
        "| tf_compact one-shot sensitivity + KD | one-shot L1 prune + "
        "fine-tune | +0.00 ± 0.00 | no |"
    ) in text
    # Budget minus one-shot: -2 and -1 pp.
    assert "at the same epochs" in text
    assert "-1.50 ± 0.50 pp." in text


def _peer(seed, tf_compact, tp_oneshot, tp_groupnorm=None):
    def row(arm, acc, ms):
        return {
            "arm": arm,
            "accuracy": acc,
            "macs": 50,
            "params": 5,
            "litert_float32_ms": ms,
        }

    rows = [row("teacher", 0.9, 4.0), row("tf_compact", tf_compact, 0.5)]
    rows.append(row("tp_oneshot", tp_oneshot, 0.25))
    if tp_groupnorm is not None:
        rows.append(row("tp_groupnorm", tp_groupnorm, 0.5))
    return {"seed": seed, "rows": rows}


def test_torch_pruning_rows_pair_by_seed_beside_the_baselines():
    records = [
        _record(0, {"oneshot": 0.90, "l1": 0.88}),
        _record(1, {"oneshot": 0.91, "l1": 0.88}),
    ]
    # Seed 2 of the peers has no evidence seed: left out. GroupNormPruner
    # on one seed only: no row.
    peers = [
        _peer(0, 0.90, 0.87, 0.86),
        _peer(1, 0.9105, 0.88),
        _peer(2, 0.5, 0.5),
    ]
    text = bench_evidence.summarize(records, "vgg", "4x10", "c", peers)
    # One-shot minus Torch-Pruning one-shot: 3 and 3 pp.
    assert (
        "| tf_compact one-shot sensitivity + KD | Torch-Pruning one-shot "
        "group-L2 + KD | +3.00 ± 0.00 | yes |"
    ) in text
    # Its speed-up is over the teacher timed in the peers run: 4 / 0.25.
    assert (
        "| Torch-Pruning one-shot group-L2 + KD | 87.50% ± 0.50 | "
        "-2.50 ± 0.50 | 20.0x | 200.0x | 16.00x | 0.80 |"
    ) in text
    assert "GroupNormPruner" not in text
    assert "differs from the one-shot arm above by at most 0.05 pp" in text
    # Peers on some of the seeds only: no rows, and the summary says so.
    text = bench_evidence.summarize(records, "vgg", "4x10", "c", peers[:1])
    assert "Torch-Pruning one-shot" not in text
    assert "has finished seeds [0] of these seeds [0, 1]" in text
    # Without peers the summary is as before.
    plain = bench_evidence.summarize(records, "vgg", "4x10", "c")
    assert "Torch-Pruning" not in plain


def test_peer_folder_names_the_bench_peers_point():
    assert bench_evidence.peer_folder("4x10", 8) == "macs25_params10"
    assert bench_evidence.peer_folder("10x50", 4) == "macs10_params2_round4"


def test_tfmot_matches_kernels_where_its_dense_weights_exceed_the_target():
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(64, 1, name="conv")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    teacher = keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))
    # Prunable kernels: 3 * 64 + 64 * 4 = 448; the rest (biases, 4 * 64
    # batch-norm weights) is 324.
    sparsity, matched = common.tfmot_sparsity(teacher, 500)
    assert matched == "params"
    assert sparsity == pytest.approx(1 - (500 - 324) / 448)
    with pytest.raises(ValueError, match="not prunable"):
        common.tfmot_sparsity(teacher, 300)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(16, 1, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    student = keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))
    assert common.kernel_weights(student) == 3 * 16 + 16 * 4
    sparsity, matched = common.tfmot_sparsity(teacher, 300, student=student)
    assert matched == "kernels"
    assert sparsity == pytest.approx(1 - 112 / 448)


def _tiny_run(tmp_path, epochs, finetune, limit):
    """`(results folder, arguments)` of a run on a tiny teacher at 4x10."""
    teachers = str(tmp_path / "teachers")
    results = str(tmp_path / "results")
    tiny_teacher(teachers)
    return results, [
        "--teacher=tiny",
        "--point=4x10",
        "--seeds=0",
        f"--epochs={epochs}",
        f"--finetune_epochs={finetune}",
        f"--limit={limit}",
        "--latency_runs=10",
        "--round_to=4",
        f"--teachers_dir={teachers}",
        f"--results_dir={results}",
        f"--work_dir={tmp_path / 'work'}",
    ]


@pytest.mark.slow
def test_a_lost_slim_model_runs_the_one_shot_arm_again(tmp_path):
    results, args = _tiny_run(tmp_path, epochs=1, finetune=0, limit=128)
    done = run_script("bench_evidence", args + ["--arms=oneshot"])
    assert done.returncode == 0, done.stderr[-3000:]
    (slim,) = glob.glob(
        str(tmp_path / "work" / "**" / "oneshot" / "slim.keras"),
        recursive=True,
    )
    os.remove(slim)
    again = run_script("bench_evidence", args + ["--arms=oneshot,scratch"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "is gone: the one-shot arm runs again" in again.stdout
    path = os.path.join(results, "evidence", "tiny", "4x10", "seed0.json")
    with open(path) as f:
        arms = json.load(f)["arms"]
    assert sorted(arms) == ["oneshot", "scratch"]
    assert not [k for k, v in arms.items() if "error" in v]


@pytest.mark.slow
def test_end_to_end_tiny_teacher_and_cached_seed(tmp_path):
    results, args = _tiny_run(tmp_path, epochs=2, finetune=1, limit=256)
    done = run_script("bench_evidence", args)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = os.path.join(results, "evidence", "tiny", "4x10")
    with open(os.path.join(folder, "seed0.json")) as f:
        record = json.load(f)
    assert record["complete"] is True
    assert [k for k, _, _ in bench_evidence.ARMS] == list(record["arms"])
    errors = {k: v["error"] for k, v in record["arms"].items() if "error" in v}
    assert errors == {}
    oneshot = record["arms"]["oneshot"]
    assert oneshot["macs"] <= 0.25 * record["teacher"]["macs"]
    assert oneshot["params"] <= 0.10 * record["teacher"]["params"]
    assert record["arms"]["tfmot"]["macs"] == record["teacher"]["macs"]
    # tfmot keeps about as many weights as the one-shot student has.
    assert record["arms"]["tfmot"]["params"] <= 1.05 * oneshot["params"]
    with open(os.path.join(folder, "summary.md")) as f:
        summary = f.read()
    assert "--seeds=0" in summary
    # The arms' models sit under the teacher's folder and the settings, so
    # a retrained teacher or other settings never reuse them.
    slim = glob.glob(
        str(tmp_path / "work" / "tiny" / "4x10" / "*" / "seed0" / "oneshot")
    )
    assert len(slim) == 1
    keyed = os.path.basename(os.path.dirname(os.path.dirname(slim[0])))
    assert keyed.startswith(record["teacher_info"]["folder"] + "-")
    # A rerun finds the seed finished and trains nothing.
    again = run_script("bench_evidence", args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "seed 0: cached" in again.stdout


def test_missing_teacher_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="--teacher=resnet20"):
        common.load_teacher("resnet20", str(tmp_path))


def test_every_result_changing_flag_is_in_the_recorded_command():
    defined = defined_flags("bench_evidence")
    # Where files go, and the seeds (each seed's file records its own).
    not_recorded = {"results_dir", "teachers_dir", "work_dir", "seeds"}
    assert defined - not_recorded == set(bench_evidence.RECORDED)
    assert len(bench_evidence.RECORDED) == len(set(bench_evidence.RECORDED))
