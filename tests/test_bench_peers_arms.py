"""`benchmarks/bench_peers.py`'s bookkeeping: the arm at Torch-Pruning's
own cost, what a rerun with more arms keeps, and the verdict's pairing."""

import json

import pytest
from absl.testing import flagsaver

from tests.bench_scripts import import_script

bench_peers = import_script("bench_peers")


def _row(arm, accuracy, macs=0.1, params=0.09):
    return {
        "arm": arm,
        "accuracy": accuracy,
        "macs_fraction": macs,
        "params_fraction": params,
    }


def test_matched_arm_takes_torch_pruning_one_shots_cost():
    entries = {"tp_oneshot": {"row": _row("tp_oneshot", 0.9, 0.065, 0.0917)}}
    assert bench_peers._matched_targets(entries) == {
        "target_macs": 0.065,
        "target_params": 0.0917,
    }
    with pytest.raises(ValueError, match="list tp_oneshot before it"):
        bench_peers._matched_targets({})


def test_a_written_seed_keeps_its_rows_and_settings(tmp_path):
    path = tmp_path / "seed0.json"
    settings, where = {"epochs": 4}, "converged vgg (vgg-abc)"
    assert bench_peers._written_arms(str(path), settings, where) == {}
    record = {
        "settings": settings,
        "teacher_source": where,
        "rows": [_row("teacher", 0.93), _row("tp_oneshot", 0.92)],
        "arm_settings": {"tp_oneshot": {"pruning_ratio": 0.7}},
    }
    path.write_text(json.dumps(record))
    entries = bench_peers._written_arms(str(path), settings, where)
    assert sorted(entries) == ["teacher", "tp_oneshot"]
    assert entries["teacher"] == {"row": _row("teacher", 0.93), "settings": {}}
    assert entries["tp_oneshot"]["settings"] == {"pruning_ratio": 0.7}
    # Other settings or another teacher: every arm runs again.
    assert bench_peers._written_arms(str(path), {"epochs": 8}, where) == {}
    assert bench_peers._written_arms(str(path), settings, "vgg-new") == {}


def test_verdict_pairs_the_matched_arm_with_torch_pruning_one_shot():
    table = {
        "teacher": {0: 0.94, 1: 0.94},
        "tf_compact": {0: 0.93, 1: 0.935},
        "tp_oneshot": {0: 0.92, 1: 0.921},
        "tf_compact_matched": {0: 0.925, 1: 0.930},
    }
    text = bench_peers._verdict(table)
    # tf_compact − TP one-shot: 1.0 and 1.4 pp; matched − TP: 0.5, 0.9 pp.
    assert text.startswith(
        "tf_compact ahead of Torch-Pruning one-shot group-L2 + KD by at "
        "least two standard errors: yes (+1.20 ± 0.20 pp, n=2)."
    )
    assert (
        "tf_compact one-shot at Torch-Pruning one-shot's MACs and params: "
        "ahead of Torch-Pruning one-shot group-L2 + KD by at least two "
        "standard errors: yes (+0.70 ± 0.20 pp, n=2)."
    ) in text
    # The matched arm is not compared with tf_compact itself.
    assert text.count("ahead of") == 2


def test_verdict_without_comparisons_is_empty():
    assert bench_peers._verdict({"tf_compact": {0: 0.9}}) == ""


def test_more_pruning_steps_are_tried_when_one_cannot_reach(monkeypatch):
    tried = []

    def ratio_for_targets(net, example, model, cost, steps=1):
        tried.append(steps)
        if steps == 1:
            raise RuntimeError("cannot reach the targets in 1 step(s)")
        return 0.945

    monkeypatch.setattr(bench_peers, "ratio_for_targets", ratio_for_targets)
    assert bench_peers.steps_and_ratio(None, None, None, None) == (5, 0.945)
    assert tried == [1, 5]

    def never(net, example, model, cost, steps=1):
        raise RuntimeError(f"cannot reach in {steps} step(s)")

    monkeypatch.setattr(bench_peers, "ratio_for_targets", never)
    with pytest.raises(RuntimeError, match="in 5 step"):
        bench_peers.steps_and_ratio(None, None, None, None)


def test_point_name_keeps_other_width_multiples_apart(parsed_flags):
    # Other scripts' tests may define these flags with other defaults.
    with flagsaver.flagsaver(target_macs=0.10, target_params=0.02, round_to=8):
        assert bench_peers.point_name() == "macs10_params2"
        with flagsaver.flagsaver(round_to=4):
            assert bench_peers.point_name() == "macs10_params2_round4"


def test_ratio_between_two_coarse_steps_is_found(monkeypatch, parsed_flags):
    # Only ratios in (0.915, 0.945) meet both targets, as with ResNet-20
    # pruned in five steps: no multiple of 0.05 does.
    def cost_at(net, ratio, example, model, steps):
        inside = 0.915 < ratio < 0.945
        return (5.0, 1.5 + (ratio - 0.9)) if inside else (50.0, 50.0)

    monkeypatch.setattr(bench_peers, "_cost_at", cost_at)
    with flagsaver.flagsaver(target_macs=0.10, target_params=0.02):
        ratio = bench_peers.ratio_for_targets(None, None, None, (100, 100))
        # The largest student inside the window: its most params.
        assert ratio == pytest.approx(0.94)
        with (
            flagsaver.flagsaver(target_params=0.01),
            pytest.raises(RuntimeError, match="any pruning ratio"),
        ):
            bench_peers.ratio_for_targets(None, None, None, (100, 100))


#: Every flag `bench_peers._settings()` reads but `reg` (other scripts'
#: tests may define them with other defaults).
_SETTINGS = {
    "epochs": 4,
    "sparse_epochs": 2,
    "learning_rate": 5e-3,
    "temperature": 4.0,
    "student_loss_weight": 0.9,
    "round_to": 8,
    "target_macs": 0.25,
    "target_params": 0.10,
    "limit": None,
}


def test_gn_regularization_is_a_setting_only_off_its_default(parsed_flags):
    reg = bench_peers.REG
    with flagsaver.flagsaver(**_SETTINGS, reg=reg.default):
        assert "reg" not in bench_peers._settings()
    with flagsaver.flagsaver(**_SETTINGS, reg=2 * reg.default):
        assert bench_peers._settings()["reg"] == 2 * reg.default


def test_summary_leaves_out_seeds_of_other_settings(
    tmp_path, parsed_flags, capsys
):
    folder = tmp_path / "peers" / "vgg" / "macs25_params10"
    folder.mkdir(parents=True)
    values = {
        **_SETTINGS,
        "reg": bench_peers.REG.default,
        "latency_runs": 500,
        "results_dir": str(tmp_path),
    }
    with flagsaver.flagsaver(**values):
        for seed, settings in enumerate(
            [bench_peers._settings(), {**bench_peers._settings(), "epochs": 5}]
        ):
            record = {
                "seed": seed,
                "settings": settings,
                "teacher_source": "t",
                "teacher_logit_max_abs_diff": 1e-5,
                "run": {"machine": "m"},
                "rows": [
                    {
                        **_row("tf_compact", 0.9),
                        "litert_float32_ms": 0.1,
                        "torch_ms": 0.2,
                    }
                ],
            }
            (folder / f"seed{seed}.json").write_text(json.dumps(record))
        text = bench_peers.summary("peers/vgg/macs25_params10", "vgg", "t")
    assert "seed1.json: other settings or teacher, left out" in (
        capsys.readouterr().out
    )
    assert "| seed 0 |" in text
    assert "seed 1" not in text
