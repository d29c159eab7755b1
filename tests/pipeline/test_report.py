"""Tests for the report, table and plots of `compress`."""

import json
import os

from tf_compact.pipeline import report
from tf_compact.pipeline.store import StageStore

TEACHER = {
    "name": "teacher",
    "accuracy": 0.9,
    "macs": 4_000_000,
    "params": 200_000,
    "widths": {"conv1": 32, "conv2": 64, "logits": 10},
}
SLIM = {
    "name": "slim",
    "accuracy": 0.88,
    "macs": 1_000_000,
    "params": 20_000,
    "widths": {"conv1": 12, "conv2": 20, "logits": 10},
}


def _records():
    bench = {
        "median_ms": 0.5,
        "accuracy": 0.87,
        "runtime": "ai_edge_litert",
        "delegate": "xnnpack",
    }
    return {
        "teacher": TEACHER,
        "sparsify": {
            "threshold": 1e-3,
            "history": {
                "sparsity_strength": [1e-4, 2e-4, 4e-4],
                "group_sparsity": [0.0, 0.2, 0.5],
            },
        },
        "finetune": SLIM,
        "tflite": {
            "model_float32.tflite": {"mode": "float32", "size_bytes": 80000},
            "model_int8.tflite": {"mode": "int8", "size_bytes": 21000},
            "teacher_float32.tflite": {"mode": "float32", "size_bytes": 8e5},
        },
        "benchmark": {
            "model_float32.tflite": dict(bench, median_ms=0.5),
            "model_int8.tflite": dict(bench, median_ms=0.4),
            "teacher_float32.tflite": dict(bench, median_ms=2.0),
        },
    }


def _report():
    records = _records()
    history = {"sparsify": records["sparsify"]["history"]}
    return report.build_report(records, {"method": "controller"}, history)


def test_report_has_the_required_fields():
    r = _report()
    assert r["teacher"]["accuracy"] == 0.9
    assert r["student"]["macs"] == 1_000_000
    assert r["reduction"]["macs"] == 4.0
    assert r["reduction"]["params"] == 10.0
    assert r["reduction"]["accuracy_change_pp"] == -2.0
    assert r["tflite"]["int8"]["size_bytes"] == 21000
    assert r["tflite"]["float32"]["median_ms"] == 0.5
    assert r["runtime"] == "ai_edge_litert"
    assert r["latency_speedup"] == {"float32": 4.0, "int8": 5.0}
    json.dumps(r)


def test_table_lists_every_model_with_its_numbers():
    table = report.summary_table(_report())
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["accuracy", "MACs"]
    assert any(
        line.startswith("student TFLite int8") and "87.00%" in line
        for line in lines
    )
    assert "4.00M" in table and "1.00M" in table
    assert "macs ÷4.00" in table


def test_report_without_tflite_stages_still_builds():
    records = {"teacher": TEACHER, "slim": SLIM}
    r = report.build_report(records, {})
    assert r["tflite"] == {} and r["runtime"] is None
    assert "student (Keras)" in report.summary_table(r)


def test_write_creates_json_markdown_and_plots(tmp_path):
    store = StageStore(str(tmp_path), {})
    r = _report()
    baselines = [{"name": "scratch", "macs": 1_000_000, "accuracy": 0.85}]
    paths = report.write(store, r, _records(), baselines)
    for name in (
        "report.json",
        "report.md",
        "tradeoff.png",
        "widths.png",
        "strength.png",
    ):
        assert os.path.getsize(paths[name]) > 0, name
    with open(paths["report.json"]) as f:
        assert json.load(f)["student"]["params"] == 20_000
    with open(paths["report.md"]) as f:
        text = f.read()
    assert "| student TFLite int8 |" in text
    assert "![tradeoff.png](tradeoff.png)" in text


def test_gradual_schedule_plot_is_written_from_the_updates(tmp_path):
    store = StageStore(str(tmp_path), {})
    updates = [
        {
            "step": step,
            "goal_macs": 0.25 + 0.75 * (1 - step / 30) ** 3,
            "macs_fraction": 0.24 + 0.75 * (1 - step / 30) ** 3,
            "goal_params": 0.1 + 0.9 * (1 - step / 30) ** 3,
            "params_fraction": 0.1 + 0.88 * (1 - step / 30) ** 3,
        }
        for step in range(0, 31, 10)
    ]
    records = {"teacher": {"name": "t"}, "slim": {"schedule": updates}}
    r = report.build_report(records, {})
    paths = report.write(store, r, records)
    assert os.path.getsize(paths["schedule.png"]) > 0
    assert "strength.png" not in paths


def test_plots_without_data_are_left_out(tmp_path):
    store = StageStore(str(tmp_path), {})
    records = {"teacher": {"name": "t"}}
    r = report.build_report(records, {})
    paths = report.write(store, r, records)
    assert not any(name.endswith(".png") for name in paths)


def _budget_report(benchmarked=True):
    records = _records()
    records["slim"] = {"target_latency_ms": 0.6, "latency_ms": 0.45}
    if not benchmarked:
        del records["benchmark"]["model_float32.tflite"]
    return report.build_report(records, {"num_threads": 1})


def test_a_latency_budget_is_told_with_the_shipped_files_latency():
    built = _budget_report()
    assert built["latency_budget"] == {
        "target_ms": 0.6,
        "measured_ms": 0.45,
        "num_threads": 1,
        "file_ms": 0.5,
    }
    line = report._reduction_line(built)
    # The table's figure (0.5 ms) leads; the pruning-time one is named.
    assert (
        "latency budget 0.6 ms: the float32 file measures 0.5 ms "
        "(0.45 ms when pruned, best of 3)"
    ) in line
    without = report._reduction_line(_budget_report(benchmarked=False))
    assert "latency budget 0.6 ms, measured 0.45 ms when pruned" in without
