"""`benchmarks/plot_evidence.py`: the statistics behind the trade-off plot
and the figure itself, from synthetic result files."""

import json
import os

import pytest

from tests.bench_scripts import import_script

plot_evidence = import_script("plot_evidence")


def _write(path, payload):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f)


def _evidence(results, point, seed, oneshot, complete=True, round_to=8):
    row = {"macs": 250, "params": 10, "float32_ms": 0.5}
    _write(
        os.path.join(results, "evidence", "vgg", point, f"seed{seed}.json"),
        {
            "seed": seed,
            "complete": complete,
            "settings": {"round_to": round_to},
            "teacher": {"accuracy": 0.93, "macs": 1000, "float32_ms": 2.0},
            "arms": {
                "oneshot": {**row, "accuracy": oneshot},
                "l1": {"error": "ValueError: unreachable"},
            },
        },
    )


def _results(tmp_path):
    results = str(tmp_path / "results")
    _evidence(results, "4x10", 0, 0.92)
    _evidence(results, "4x10", 1, 0.90)
    _evidence(results, "4x10", 2, 0.10, complete=False)
    tp = {
        "arm": "tp_oneshot",
        "accuracy": 0.91,
        "macs": 240,
        "litert_float32_ms": 0.6,
    }
    teacher = {
        "arm": "teacher",
        "accuracy": 0.93,
        "macs": 1000,
        "litert_float32_ms": 2.0,
    }
    ours = {**tp, "arm": "tf_compact", "accuracy": 0.5}
    _write(
        os.path.join(results, "peers", "vgg", "macs25_params10", "seed0.json"),
        {"seed": 0, "rows": [teacher, tp, ours]},
    )
    return results


def test_series_averages_finished_seeds_and_adds_the_peer_arms(tmp_path):
    reference, points = plot_evidence.series(_results(tmp_path), "vgg")
    assert reference["accuracy"] == pytest.approx(93.0)
    assert reference["seeds"] == 2  # the unfinished seed is left out
    ours = points[("4x10", "tf_compact one-shot sensitivity + KD")]
    assert ours["accuracy"] == pytest.approx(91.0)
    assert ours["se"] == pytest.approx(1.0)  # std 1.414 / sqrt(2)
    assert ours["ms"] == pytest.approx(0.5)
    peer = points[("4x10", "Torch-Pruning one-shot + KD")]
    assert (peer["accuracy"], peer["ms"], peer["se"]) == (
        pytest.approx(91.0),
        pytest.approx(0.6),
        0.0,
    )
    # The failed arm is not drawn; the teacher row of the peers is not an
    # arm, and the peers' tf_compact arm does not mix into the evidence's.
    assert len(points) == 2


def test_peers_alone_give_the_teacher_and_the_tf_compact_arm(tmp_path):
    results = _results(tmp_path)
    import shutil

    shutil.rmtree(os.path.join(results, "evidence"))
    reference, points = plot_evidence.series(results, "vgg")
    assert (reference["accuracy"], reference["ms"]) == (
        pytest.approx(93.0),
        pytest.approx(2.0),
    )
    ours = points[("4x10", "tf_compact one-shot sensitivity + KD")]
    assert ours["accuracy"] == pytest.approx(50.0)
    assert ours["seeds"] == 1


def test_plot_writes_a_png(tmp_path):
    out = plot_evidence.plot(
        _results(tmp_path), "vgg", str(tmp_path / "fig" / "evidence.png")
    )
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_no_results_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="bench_evidence.py"):
        plot_evidence.series(str(tmp_path), "resnet20")


def test_peer_points_with_widths_in_fours_are_drawn_apart(tmp_path):
    results = _results(tmp_path)
    row = {
        "arm": "tp_oneshot",
        "accuracy": 0.89,
        "macs": 90,
        "litert_float32_ms": 0.1,
    }
    _write(
        os.path.join(
            results, "peers", "vgg", "macs10_params2_round4", "seed0.json"
        ),
        {"seed": 0, "rows": [row]},
    )
    _, points = plot_evidence.series(results, "vgg")
    peer = points[("10x50, widths in 4s", "Torch-Pruning one-shot + KD")]
    assert peer["accuracy"] == pytest.approx(89.0)
    assert set(plot_evidence.PEER_POINTS.values()) <= set(plot_evidence.MARKERS)


def test_evidence_with_widths_in_fours_is_the_point_of_its_own(tmp_path):
    results = _results(tmp_path)
    _evidence(results, "10x50", 0, 0.88, round_to=4)
    _, points = plot_evidence.series(results, "vgg")
    ours = "tf_compact one-shot sensitivity + KD"
    assert points[("10x50, widths in 4s", ours)]["accuracy"] == pytest.approx(
        88.0
    )
    assert ("10x50", ours) not in points
