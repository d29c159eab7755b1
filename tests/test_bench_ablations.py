"""`benchmarks/bench_ablations.py`: its summaries, its resumable records,
and every ablation end to end on a tiny untrained teacher."""

import ast
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
sys.path.insert(0, BENCH)

from tests.bench_scripts import import_script  # noqa: E402

bench_ablations = import_script("bench_ablations")

#: The flags a record keeps (those its summary reads).
SETTINGS = {
    "epochs": 2,
    "finetune_epochs": 1,
    "prune_epochs": 2,
    "target_macs": 0.25,
    "target_params": 0.02,
    "width": 0.5,
}


def _record(seed, arms, teacher_acc=0.9):
    rows = {
        key: row if isinstance(row, dict) else {"accuracy": row}
        for key, row in arms.items()
    }
    for row in rows.values():
        if "error" not in row:
            row.setdefault("macs", 250)
            row.setdefault("params", 100)
    return {
        "seed": seed,
        "flags": SETTINGS,
        "target_macs": SETTINGS["target_macs"],
        "teacher": {"accuracy": teacher_acc, "macs": 1000, "params": 1000},
        "arms": rows,
        "complete": True,
    }


def test_summary_pairs_the_compared_arms_over_seeds():
    records = [
        _record(1, {"kd": 0.90, "scratch": 0.85}),
        _record(0, {"kd": 0.89, "scratch": 0.86}),
    ]
    text = bench_ablations.summarize(records, "jaiswal2019", "vgg", "cmd")
    assert text.splitlines()[0] == "Command: `cmd`"
    # Differences 3 and 5 pp: mean 4, standard error 1, ahead by 4 SE.
    assert (
        "| simplified teacher + logits KD | simplified teacher from scratch "
        "| +4.00 ± 1.00 | yes |"
    ) in text
    # 89.5% ± 0.5, -0.50 pp from the teacher, a quarter of its MACs and a
    # tenth of its params.
    assert (
        "| simplified teacher + logits KD | 89.50% ± 0.50 | -0.50 ± 0.50 | "
        "25.0% | 10.0% |"
    ) in text
    assert "Seeds 0, 1." in text
    assert "width 0.5, fresh weights; 2 epochs per arm." in text


def test_summary_with_one_seed_has_no_standard_error():
    records = [_record(0, {"per_block": 0.8, "global": 0.7})]
    text = bench_ablations.summarize(records, "ahmed2020", "tiny", "c")
    assert "| per-block budgets | one global budget | +10.00 | n/a" in text
    assert "steered to 25% of the teacher's MACs" in text


def test_summary_shows_the_extra_fields_and_blocks():
    records = [
        _record(
            0,
            {
                "per_block": {
                    "accuracy": 0.8,
                    "threshold": 0.5,
                    "blocks": {"stage1": 0.5, "head": 0.25},
                },
                "global": {
                    "accuracy": 0.7,
                    "threshold": 0.25,
                    "blocks": {"stage1": 0.75, "head": 0.5},
                },
            },
        )
    ]
    text = bench_ablations.summarize(records, "ahmed2020", "tiny", "c")
    assert "| prune threshold |" in text
    assert "| per-block budgets | 80.00% | -10.00 | 25.0% | 10.0% | 0.5 |" in (
        text
    )
    assert "- per-block budgets: stage1 50.0%, head 25.0%" in text
    assert "- one global budget: stage1 75.0%, head 50.0%" in text


def test_summary_reports_a_failed_arm_apart():
    records = [
        _record(
            0,
            {
                "gl": {"accuracy": 0.8, "accuracy_slim": 0.5},
                "gl_kd": {"error": "ValueError: broke"},
                "gl_kd_ctrl": {"accuracy": 0.85, "accuracy_slim": 0.6},
            },
        )
    ]
    text = bench_ablations.summarize(records, "lee2019", "vgg", "c")
    assert "group lasso + KD failed on seed 0: ValueError: broke" in text
    assert "| group lasso + KD |" not in text
    assert "| group lasso + KD | group lasso |" not in text
    assert (
        "| group lasso + KD + SparsityController | group lasso | +5.00 |"
    ) in text
    # The accuracy after slimming, before the fine-tune.
    assert "| group lasso | 80.00% | -10.00 | 25.0% | 10.0% | 50.00% |" in text


def test_finished_seed_is_cached_and_failed_arms_rerun(tmp_path):
    path = str(tmp_path / "seed0.json")
    flags = {"epochs": 2, "limit": 256}
    record = dict(_record(0, {"kd": 0.9, "scratch": 0.8}), flags=flags)
    with open(path, "w") as f:
        json.dump(record, f)
    cached, arms = bench_ablations._load_record(path, flags)
    assert cached == record and set(arms) == {"kd", "scratch"}
    # Made with other settings: run again from the start.
    assert bench_ablations._load_record(path, {"epochs": 3, "limit": 256}) == (
        None,
        {},
    )
    record["arms"]["scratch"] = {"error": "ValueError: x"}
    with open(path, "w") as f:
        json.dump(record, f)
    cached, arms = bench_ablations._load_record(path, flags)
    assert cached is None and set(arms) == {"kd"}
    missing = str(tmp_path / "none.json")
    assert bench_ablations._load_record(missing, flags) == (None, {})


def test_defaults_per_ablation():
    assert bench_ablations.teacher_name("ahmed2020") == "mobilenet_v2"
    assert bench_ablations.teacher_name("chen2020") == "vgg"
    assert bench_ablations.teacher_name("ahmed2020", "resnet20") == "resnet20"
    assert bench_ablations.target_macs("lee2019") == 0.25
    assert bench_ablations.target_macs("ahmed2020") == 0.5
    assert bench_ablations.target_macs("lee2019", 0.1) == 0.1


def test_every_ablation_has_its_arms_pairs_and_function():
    for name, spec in bench_ablations.ABLATIONS.items():
        keys = [key for key, _ in spec["arms"]]
        assert name in bench_ablations.ARM_FUNCTIONS
        assert spec["pairs"], name
        for ours, base in spec["pairs"]:
            assert ours in keys and base in keys and ours != base
        spec["budget"].format(**SETTINGS)


def test_every_result_changing_flag_is_in_the_recorded_command():
    with open(os.path.join(BENCH, "bench_ablations.py")) as f:
        tree = ast.parse(f.read())
    defined = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith("DEFINE_")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    not_recorded = {"results_dir", "teachers_dir", "work_dir", "seeds"}
    assert defined - not_recorded == set(bench_ablations.RECORDED)
    assert len(bench_ablations.RECORDED) == len(set(bench_ablations.RECORDED))


def _tiny_teacher(teachers_dir):
    import keras

    import tf_compact as tfc

    keras.utils.set_random_seed(0)
    model = tfc.models.vgg(blocks=((16,), (32,)), dense_units=32)
    folder = os.path.join(teachers_dir, "tiny-0123456789")
    os.makedirs(folder)
    model.save(os.path.join(folder, "teacher.keras"))
    with open(os.path.join(folder, "teacher.json"), "w") as f:
        json.dump({"finished": True, "test_accuracy": 0.1}, f)


def _run(tmp_path, ablation, teacher="tiny", extra=()):
    args = [
        sys.executable,
        os.path.join(BENCH, "bench_ablations.py"),
        f"--ablation={ablation}",
        f"--teacher={teacher}",
        "--seeds=0",
        "--epochs=1",
        "--prune_epochs=2",
        "--limit=256",
        "--latency_runs=10",
        f"--teachers_dir={tmp_path / 'teachers'}",
        f"--results_dir={tmp_path / 'results'}",
        f"--work_dir={tmp_path / 'work'}",
        *extra,
    ]
    path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=path)
    return subprocess.run(args, capture_output=True, text=True, env=env)


def test_missing_teacher_names_the_command(tmp_path):
    done = _run(tmp_path, "ahmed2020", teacher="")
    assert done.returncode != 0
    assert "FileNotFoundError" in done.stderr
    assert "--teacher=mobilenet_v2" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("ablation", sorted(bench_ablations.ABLATIONS))
def test_end_to_end_tiny_teacher(tmp_path, ablation):
    _tiny_teacher(str(tmp_path / "teachers"))
    done = _run(tmp_path, ablation)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = tmp_path / "results" / "ablations" / ablation / "tiny"
    with open(folder / "seed0.json") as f:
        record = json.load(f)
    assert record["command"].startswith(
        f"python benchmarks/bench_ablations.py --ablation={ablation}"
    )
    assert record["complete"] is True
    spec = bench_ablations.ABLATIONS[ablation]
    assert list(record["arms"]) == [key for key, _ in spec["arms"]]
    errors = {k: v["error"] for k, v in record["arms"].items() if "error" in v}
    assert errors == {}
    teacher = record["teacher"]
    for row in record["arms"].values():
        assert 0.0 <= row["accuracy"] <= 1.0
        assert row["macs"] <= teacher["macs"]
    if ablation in ("lee2019", "ahmed2020"):
        for row in record["arms"].values():
            assert 0.0 <= row["accuracy_slim"] <= 1.0
    if ablation == "lee2019":
        # Every arm pruned to the same MACs target.
        target = record["target_macs"] * teacher["macs"]
        assert all(r["macs"] <= target for r in record["arms"].values())
    if ablation == "chen2020":
        target = record["flags"]["target_params"] * teacher["params"]
        assert record["arms"]["finetune"]["params"] <= target + 1
        assert record["arms"]["finetune"]["float32_ms"] > 0
    summary = (folder / "summary.md").read_text()
    assert summary.startswith("Command: `python benchmarks/bench_ablations")
    assert "--seeds=0`" in summary.splitlines()[0]
    if ablation == "jaiswal2019":
        # A rerun finds the seed finished and trains nothing.
        again = _run(tmp_path, ablation)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "seed 0: cached" in again.stdout


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--ablation=nope", "--ablation"),
        ("--target_macs=1.5", "--target_macs"),
        ("--epochs=0", "--epochs"),
    ],
)
def test_invalid_flags_are_refused_before_any_work(tmp_path, flag, message):
    done = _run(tmp_path, "lee2019", teacher="", extra=(flag,))
    assert done.returncode != 0
    assert message in done.stderr
    assert not (tmp_path / "results").exists()
