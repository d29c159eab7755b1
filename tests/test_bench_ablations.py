"""`benchmarks/bench_ablations.py`: its summaries, its resumable records,
and every ablation end to end on a tiny untrained teacher."""

import json
import os
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
sys.path.insert(0, BENCH)

from tests.bench_scripts import defined_flags  # noqa: E402
from tests.bench_scripts import import_script  # noqa: E402
from tests.bench_scripts import run_script  # noqa: E402
from tests.bench_scripts import tiny_teacher  # noqa: E402

bench_ablations = import_script("bench_ablations")

#: The flags a record keeps (those its summary reads).
SETTINGS = {
    "epochs": 2,
    "finetune_epochs": 1,
    "prune_epochs": 2,
    "target_macs": 0.25,
    "target_params": 0.02,
    "width": 0.5,
    "student_loss_weight": 0.5,
}
#: Every recorded flag, resolved, as `_settings()` gives them.
FULL_SETTINGS = {
    "ablation": "jaiswal2019",
    "teacher": "tiny",
    "epochs": 1,
    "finetune_epochs": 1,
    "prune_epochs": 2,
    "target_macs": None,
    "target_params": 0.02,
    "width": 0.5,
    "strength": 1e-4,
    "learning_rate": 1e-3,
    "qat_learning_rate": 1e-4,
    "temperature": 4.0,
    "student_loss_weight": 0.5,
    "latency_runs": 10,
    "limit": 256,
}


def _record(seed, arms, teacher_acc=0.9, folder="vgg-1"):
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
        "teacher_info": {"folder": folder},
        "teacher": {"accuracy": teacher_acc, "macs": 1000, "params": 1000},
        "arms": rows,
        "complete": True,
    }


def _write(path, record):
    with open(path, "w") as f:
        json.dump(record, f)


def _cells(line):
    return line.strip().strip("|").split("|")


def test_summary_pairs_the_compared_arms_over_seeds():
    records = [
        _record(1, {"kd": 0.90, "scratch": 0.85}),
        _record(0, {"kd": 0.89, "scratch": 0.86}),
    ]
    text = bench_ablations.summarize(records, "jaiswal2019", "vgg", "cmd")
    assert text.splitlines()[0] == "Command: `cmd`"
    # Differences 3 and 5 pp over 2 seeds: mean 4, standard error 1.
    assert (
        "| simplified teacher + logits KD | simplified teacher from scratch "
        "| 2 | +4.00 ± 1.00 | yes |"
    ) in text
    # 89.5% ± 0.5, -0.50 pp from the teacher, a quarter of its MACs and a
    # tenth of its params; no extra fields, so no trailing cell.
    assert (
        "| simplified teacher + logits KD | 2 | 89.50% ± 0.50 | -0.50 ± 0.50 "
        "| 25.0% | 10.0% |\n"
    ) in text
    assert "Seeds 0, 1." in text
    assert "width 0.5, fresh weights; 2 epochs per arm." in text


def test_every_table_line_has_as_many_cells_as_its_header():
    for name, spec in bench_ablations.ABLATIONS.items():
        row = {field: 0.5 for field, _, _ in spec["extras"]}
        arms = {key: dict(row, accuracy=0.8) for key, _ in spec["arms"]}
        records = [_record(0, arms), _record(1, json.loads(json.dumps(arms)))]
        text = bench_ablations.summarize(records, name, "vgg", "c")
        tables = [[]]
        for line in text.splitlines():
            if line.startswith("|"):
                tables[-1].append(line)
            elif tables[-1]:
                tables.append([])
        tables = [t for t in tables if t]
        assert len(tables) == 2, name
        for table in tables:
            width = len(_cells(table[0]))
            assert len(table) == 2 + (
                len(spec["arms"]) + 1
                if table is tables[0]
                else len(spec["pairs"])
            ), name
            assert all(len(_cells(line)) == width for line in table), (
                name,
                table,
            )


def test_summary_with_one_seed_has_no_standard_error():
    records = [_record(0, {"per_block": 0.8, "global": 0.7})]
    text = bench_ablations.summarize(records, "ahmed2020", "tiny", "c")
    assert (
        "| per-block budgets | one global budget | 1 | +10.00 | "
        "n/a (one seed) |"
    ) in text
    assert "steered to 25% of the teacher's MACs" in text
    assert "both arms target equal MACs" in text


def test_ahead_needs_a_difference_above_zero():
    # Equal arms on every seed: +0.00 ± 0.00 is not ahead.
    records = [_record(s, {"kd": 0.8, "scratch": 0.8}) for s in (0, 1, 2)]
    text = bench_ablations.summarize(records, "jaiswal2019", "vgg", "c")
    assert "| 3 | +0.00 ± 0.00 | no |" in text
    # Behind by two standard errors is not ahead either.
    records = [
        _record(0, {"kd": 0.80, "scratch": 0.85}),
        _record(1, {"kd": 0.80, "scratch": 0.86}),
    ]
    text = bench_ablations.summarize(records, "jaiswal2019", "vgg", "c")
    assert "| 2 | -5.50 ± 0.50 | no |" in text


def test_an_arm_failed_on_one_seed_is_summarized_over_the_others():
    records = [
        _record(0, {"kd": 0.90, "scratch": 0.85}),
        _record(1, {"kd": {"error": "ValueError: broke"}, "scratch": 0.80}),
        _record(2, {"kd": 0.92, "scratch": 0.86}),
    ]
    text = bench_ablations.summarize(records, "jaiswal2019", "vgg", "c")
    # kd over seeds 0 and 2, scratch over all three.
    assert "| simplified teacher + logits KD | 2 | 91.00% ± 1.00 |" in text
    assert "| simplified teacher from scratch | 3 | 83.67% ± 1.86 |" in text
    # Paired over the seeds where both have an accuracy: 5 and 6 pp.
    assert "| simplified teacher from scratch | 2 | +5.50 ± 0.50 | yes |" in (
        text
    )
    assert "failed on seed 1: ValueError: broke" in text


def test_summary_shows_the_extra_fields_and_blocks():
    records = [
        _record(
            0,
            {
                "per_block": {
                    "accuracy": 0.8,
                    "threshold": 0.5,
                    "target_macs": 0.5,
                    "blocks": {"stage1": 0.5, "head": 0.25},
                },
                "global": {
                    "accuracy": 0.7,
                    "threshold": 0.25,
                    "target_macs": 0.43,
                    "blocks": {"stage1": 0.75, "head": 0.5},
                },
            },
        )
    ]
    text = bench_ablations.summarize(records, "ahmed2020", "tiny", "c")
    assert "| MACs target | prune threshold |" in text
    assert (
        "| per-block budgets | 1 | 80.00% | -10.00 | 25.0% | 10.0% | 50.00% "
        "| 0.5 |"
    ) in text
    assert (
        "| one global budget | 1 | 70.00% | -20.00 | 25.0% | 10.0% | 43.00%"
        in (text)
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
        "| group lasso + KD + SparsityController | group lasso | 1 | +5.00 |"
    ) in text
    # The accuracy after slimming, before the fine-tune.
    assert (
        "| group lasso | 1 | 80.00% | -10.00 | 25.0% | 10.0% | 50.00% |"
    ) in text
    assert "plain cross-entropy in group lasso alone" in text


def test_finished_seed_is_cached_and_failed_arms_rerun(tmp_path):
    path = str(tmp_path / "seed0.json")
    flags = {"epochs": 2, "limit": 256}
    keys = ["kd", "scratch"]
    record = dict(_record(0, {"kd": 0.9, "scratch": 0.8}), flags=flags)
    _write(path, record)
    cached, arms, teacher = bench_ablations._load_record(
        path, flags, "vgg-1", keys
    )
    assert cached == record and set(arms) == {"kd", "scratch"}
    assert teacher == record["teacher"]
    # Made with other settings: run again from the start.
    other = bench_ablations._load_record(
        path, {"epochs": 3, "limit": 256}, "vgg-1", keys
    )
    assert other == (None, {}, None)
    # An ablation that now has a third arm runs only that arm.
    cached, arms, teacher = bench_ablations._load_record(
        path, flags, "vgg-1", keys + ["new"]
    )
    assert cached is None and set(arms) == {"kd", "scratch"}
    assert teacher == record["teacher"]
    record["arms"]["scratch"] = {"error": "ValueError: x"}
    _write(path, record)
    cached, arms, _ = bench_ablations._load_record(path, flags, "vgg-1", keys)
    assert cached is None and set(arms) == {"kd"}
    missing = str(tmp_path / "none.json")
    assert bench_ablations._load_record(missing, flags, "vgg-1", keys) == (
        None,
        {},
        None,
    )


def test_a_retrained_teacher_reruns_the_seed_and_leaves_the_summary(tmp_path):
    keys = ["kd", "scratch"]
    _write(tmp_path / "seed0.json", _record(0, {"kd": 0.9, "scratch": 0.8}))
    _write(
        tmp_path / "seed1.json",
        _record(1, {"kd": 0.9, "scratch": 0.8}, folder="vgg-2"),
    )
    path = str(tmp_path / "seed0.json")
    assert bench_ablations._load_record(path, SETTINGS, "vgg-2", keys) == (
        None,
        {},
        None,
    )
    assert bench_ablations._load_record(path, SETTINGS, "vgg-1", keys)[0]
    seeds = [
        r["seed"]
        for r in bench_ablations.current_records(
            str(tmp_path), SETTINGS, "vgg-2"
        )
    ]
    assert seeds == [1]
    other = dict(SETTINGS, epochs=9)
    assert bench_ablations.current_records(str(tmp_path), other, "vgg-2") == []


def test_settings_record_the_teacher_and_target_used():
    raw = dict(FULL_SETTINGS, ablation="ahmed2020", teacher=None)
    resolved = bench_ablations.resolve_settings(raw)
    assert resolved["teacher"] == "mobilenet_v2"
    assert resolved["target_macs"] == 0.5
    raw = dict(raw, teacher="vgg", target_macs=0.3)
    assert bench_ablations.resolve_settings(raw)["target_macs"] == 0.3
    assert bench_ablations.resolve_settings(raw)["teacher"] == "vgg"


def test_work_dir_depends_on_teacher_folder_and_settings(tmp_path):
    root = str(tmp_path)
    one = bench_ablations.work_dir(root, FULL_SETTINGS, "tiny-1", 0)
    assert one == bench_ablations.work_dir(root, FULL_SETTINGS, "tiny-1", 0)
    assert one != bench_ablations.work_dir(root, FULL_SETTINGS, "tiny-2", 0)
    other = dict(FULL_SETTINGS, epochs=2)
    assert one != bench_ablations.work_dir(root, other, "tiny-1", 0)
    assert one != bench_ablations.work_dir(root, FULL_SETTINGS, "tiny-1", 1)
    assert one.startswith(root)


def test_a_step_whose_model_is_missing_reruns_with_every_later_step(
    tmp_path,
):
    keys = ["lightened", "transfer", "pruned", "finetune"]
    arms = {key: {"accuracy": 0.5} for key in keys[:3]}
    for key in ("lightened", "pruned"):
        (tmp_path / f"{key}.keras").write_text("model")
    kept = bench_ablations.keep_saved(arms, keys, str(tmp_path))
    assert kept == {"lightened": {"accuracy": 0.5}}
    (tmp_path / "transfer.keras").write_text("model")
    kept = bench_ablations.keep_saved(arms, keys, str(tmp_path))
    assert set(kept) == set(keys[:3])
    empty = str(tmp_path / "none")
    assert bench_ablations.keep_saved(arms, keys, empty) == {}


def test_params_target_keeps_the_reduction_at_least_the_asked_one():
    for params in (99, 1000, 12345, 2**20 + 7, 4_000_001):
        target = bench_ablations.params_target(1 / 49.5, params)
        assert params / target >= 49.5, params
    assert bench_ablations.params_target(1 / 49.5, 50) == 2


def test_seeds_must_be_integers():
    assert bench_ablations.parse_seeds(["0", "3"]) == [0, 3]
    with pytest.raises(Exception, match="--seeds.*'x'"):
        bench_ablations.parse_seeds(["0", "x"])


def test_ahmed2020_global_arm_targets_the_per_block_arms_macs():
    ctx = {
        "target_macs": 0.5,
        "teacher": {"macs": 1000},
        "arms": {"per_block": {"accuracy": 0.7, "macs": 430}},
    }
    assert bench_ablations.ahmed2020_target("per_block", ctx) == 0.5
    assert bench_ablations.ahmed2020_target("global", ctx) == 0.43
    ctx["arms"] = {"per_block": {"error": "ValueError: x"}}
    with pytest.raises(ValueError, match="per-block"):
        bench_ablations.ahmed2020_target("global", ctx)


def _value(value):
    return types.SimpleNamespace(value=value)


def _stub_training(monkeypatch, calls):
    """Training helpers that only record what they were asked to do."""
    monkeypatch.setattr(bench_ablations, "FINETUNE", _value(2))
    monkeypatch.setattr(bench_ablations, "EPOCHS", _value(3))
    monkeypatch.setattr(bench_ablations, "LEARNING_RATE", _value(1e-3))
    monkeypatch.setattr(
        bench_ablations,
        "_kd",
        lambda teacher, model, bundle, epochs, multi=False: (
            calls.append(("kd", teacher, epochs)) or model
        ),
    )
    monkeypatch.setattr(
        bench_ablations.common,
        "fit",
        lambda model, bundle, epochs, lr: calls.append(("fit", epochs)),
    )
    monkeypatch.setattr(
        bench_ablations,
        "_recalibrate",
        lambda model, bundle: calls.append(("recalibrate", model)) or model,
    )
    monkeypatch.setattr(
        bench_ablations,
        "_row",
        lambda model, bundle, latency=False: {
            "accuracy": 0.5,
            "params": 10,
            "float32_ms": 1.0,
        },
    )


def test_group_lasso_alone_is_fine_tuned_without_kd(monkeypatch):
    calls = []
    _stub_training(monkeypatch, calls)
    row = bench_ablations._finish_sparse("teacher", "slim", None, kd=False)
    assert ("fit", 2) in calls
    assert not [c for c in calls if c[0] == "kd"]
    assert row["finetune"] == "cross-entropy" and row["epochs"] == 5
    calls.clear()
    row = bench_ablations._finish_sparse("teacher", "slim", None)
    assert ("kd", "teacher", 2) in calls
    assert not [c for c in calls if c[0] == "fit"]
    assert row["finetune"] == "KD"


def test_chen2020_recalibrates_after_every_kd_step(monkeypatch):
    calls = []
    _stub_training(monkeypatch, calls)
    ctx = {
        "teacher": {"float32_ms": 2.0, "params": 100},
        "model": lambda key: f"after {key}",
    }
    for key, start in (("transfer", "lightened"), ("finetune", "pruned")):
        calls.clear()
        row, model = bench_ablations._chen2020(key, "teacher", None, ctx)
        assert model == f"after {start}"
        kd = calls.index(("kd", "teacher", 3 if key == "transfer" else 2))
        assert calls[kd + 1 :] == [("recalibrate", model)], key
        assert row["speedup"] == 2.0 and row["params_reduction"] == 10.0


def test_pei2024_passes_the_kd_weight_to_qat(monkeypatch):
    import tf_compact as tfc

    seen = {}

    def qat(model, data, **kwargs):
        seen.update(kwargs)
        return b"int8"

    monkeypatch.setattr(tfc.lite, "qat", qat)
    monkeypatch.setattr(tfc.lite, "make_interpreter", lambda d: (d, None))
    monkeypatch.setattr(tfc.lite, "accuracy_of", lambda i, d: 0.75)
    for name, value in (
        ("EPOCHS", 1),
        ("QAT_LR", 1e-4),
        ("TEMPERATURE", 4.0),
        ("STUDENT_WEIGHT", 0.2),
    ):
        monkeypatch.setattr(bench_ablations, name, _value(value))
    bundle = types.SimpleNamespace(train="train", test="test")
    ctx = {"teacher": {"macs": 5, "params": 6}}
    row = bench_ablations._pei2024("kd_qat", "teacher", bundle, ctx)
    assert seen["alpha"] == pytest.approx(0.8)
    assert seen["teacher"] == "teacher"
    assert row["accuracy"] == 0.75


class _Model:
    def save(self, path):
        with open(path, "w") as f:
            f.write("model")


def _stub_seed_run(monkeypatch, tmp_path, ablation, calls):
    """`run_seed` with stub arms, data and measurements."""
    settings = dict(FULL_SETTINGS, ablation=ablation)
    for name, value in (
        ("ABLATION", ablation),
        ("LIMIT", 256),
        ("WORK_DIR", str(tmp_path / "work")),
        ("RESULTS", str(tmp_path / "results")),
    ):
        monkeypatch.setattr(bench_ablations, name, _value(value))
    monkeypatch.setattr(bench_ablations, "_settings", lambda: settings)
    monkeypatch.setattr(bench_ablations, "_command", lambda seed=None: "c")
    monkeypatch.setattr(bench_ablations, "_reindex", lambda: None)
    monkeypatch.setattr(bench_ablations.common, "run_record", lambda: {})

    def seeded_data(seed, offset=0, limit=None):
        calls.append(("data", seed, offset, limit))
        return object()

    def row(model, bundle, latency=False):
        calls.append(("teacher row", bundle))
        return {"accuracy": 0.9, "macs": 100, "params": 100}

    def arm(key, teacher, bundle, ctx):
        calls.append(("arm", key, bundle))
        if ctx.get("fail") == key:
            raise ValueError("broke")
        out = {"accuracy": 0.5, "macs": 50, "params": 50}
        return (out, _Model()) if ablation == "chen2020" else out

    monkeypatch.setattr(bench_ablations.common, "seeded_data", seeded_data)
    monkeypatch.setattr(bench_ablations, "_row", row)
    monkeypatch.setitem(bench_ablations.ARM_FUNCTIONS, ablation, arm)
    return settings


def test_every_arm_gets_a_fresh_copy_of_the_same_seeded_data(
    monkeypatch, tmp_path
):
    calls = []
    _stub_seed_run(monkeypatch, tmp_path, "jaiswal2019", calls)
    info = {"folder": "tiny-1"}
    record = bench_ablations.run_seed(3, "teacher", info)
    assert record["complete"] and set(record["arms"]) == {"kd", "scratch"}
    loads = [c for c in calls if c[0] == "data"]
    assert loads == [("data", 3, 0, 256)] * 3  # the teacher and two arms
    bundles = [c[-1] for c in calls if c[0] in ("arm", "teacher row")]
    assert len({id(b) for b in bundles}) == 3
    # Cached for that teacher; a retrained teacher runs the seed again.
    calls.clear()
    assert bench_ablations.run_seed(3, "teacher", info) == record
    assert calls == []
    again = bench_ablations.run_seed(3, "teacher", {"folder": "tiny-2"})
    assert again["teacher_info"] == {"folder": "tiny-2"}
    assert [c[1] for c in calls if c[0] == "arm"] == ["kd", "scratch"]


def test_resumed_chained_seed_reruns_from_a_missing_model(
    monkeypatch, tmp_path
):
    calls = []
    settings = _stub_seed_run(monkeypatch, tmp_path, "chen2020", calls)
    info = {"folder": "tiny-1"}
    record = bench_ablations.run_seed(0, "teacher", info)
    assert all("error" not in row for row in record["arms"].values())
    # The pruned step failed, and the transfer step's model is lost.
    record["arms"]["pruned"] = {"error": "ValueError: broke"}
    path = tmp_path / "results" / "ablations" / "chen2020" / "tiny"
    _write(path / "seed0.json", record)
    seed_dir = bench_ablations.work_dir(
        str(tmp_path / "work"), settings, "tiny-1", 0
    )
    os.remove(os.path.join(seed_dir, "transfer.keras"))
    calls.clear()
    again = bench_ablations.run_seed(0, "teacher", info)
    steps = [c[1] for c in calls if c[0] == "arm"]
    assert steps == ["transfer", "pruned", "finetune"]
    # The teacher row the kept step was measured against is reused.
    assert not [c for c in calls if c[0] == "teacher row"]
    assert again["teacher"] == record["teacher"]
    assert os.path.exists(os.path.join(seed_dir, "transfer.keras"))


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
    defined = defined_flags("bench_ablations")
    not_recorded = {"results_dir", "teachers_dir", "work_dir", "seeds"}
    assert defined - not_recorded == set(bench_ablations.RECORDED)
    assert len(bench_ablations.RECORDED) == len(set(bench_ablations.RECORDED))


def _run(tmp_path, ablation, teacher="tiny", extra=()):
    args = [
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
    return run_script("bench_ablations", args)


def test_missing_teacher_names_the_command(tmp_path):
    done = _run(tmp_path, "ahmed2020", teacher="")
    assert done.returncode != 0
    assert "FileNotFoundError" in done.stderr
    assert "--teacher=mobilenet_v2" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("ablation", sorted(bench_ablations.ABLATIONS))
def test_end_to_end_tiny_teacher(tmp_path, ablation):
    tiny_teacher(str(tmp_path / "teachers"))
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
        finetunes = {k: v["finetune"] for k, v in record["arms"].items()}
        assert finetunes == {
            "gl": "cross-entropy",
            "gl_kd": "KD",
            "gl_kd_ctrl": "KD",
        }
    if ablation == "ahmed2020":
        # The global arm is steered to the MACs the per-block arm reached.
        arms = record["arms"]
        assert arms["per_block"]["target_macs"] == record["target_macs"]
        reached = arms["per_block"]["macs"] / teacher["macs"]
        assert arms["global"]["target_macs"] == pytest.approx(reached)
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
        ("--learning_rate=0", "--learning_rate"),
        ("--temperature=0", "--temperature"),
        ("--seeds=0,x", "--seeds"),
    ],
)
def test_invalid_flags_are_refused_before_any_work(tmp_path, flag, message):
    done = _run(tmp_path, "lee2019", teacher="", extra=(flag,))
    assert done.returncode != 0
    assert message in done.stderr
    assert not (tmp_path / "results").exists()
