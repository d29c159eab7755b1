"""`benchmarks/bench_latency_budget.py` keeps a finished result and resumes
an interrupted one."""

import json
import os
import sys

import numpy as np
from absl.testing import flagsaver

from tests.bench_scripts import import_script

bench_latency_budget = import_script("bench_latency_budget")
import common  # noqa: E402


def test_a_result_of_the_same_command_and_teacher_is_kept(
    tmp_path, monkeypatch, parsed_flags
):
    teachers = str(tmp_path / "teachers")
    folder = os.path.join(teachers, "vgg-0123456789")
    os.makedirs(folder)
    with open(os.path.join(folder, "teacher.json"), "w") as f:
        json.dump({"finished": True, "finished_at": "2026-01-01"}, f)
    open(os.path.join(folder, "teacher.keras"), "w").close()
    monkeypatch.setattr(common, "TEACHERS_DIR", teachers)
    argv = ["benchmarks/bench_latency_budget.py", "--teacher=vgg"]
    monkeypatch.setattr(sys, "argv", argv)
    path = str(tmp_path / "vgg.json")
    assert not bench_latency_budget._finished(path)

    def write(command, teacher_folder):
        with open(path, "w") as f:
            json.dump(
                {
                    "run": {"command": command},
                    "teacher": {"folder": teacher_folder},
                },
                f,
            )

    command = "python " + " ".join(argv)
    with flagsaver.flagsaver(teacher="vgg"):
        write(command, "vgg-0123456789")
        assert bench_latency_budget._finished(path)
        # A result written by a --rerun run counts as this command's.
        write(command + " --rerun", "vgg-0123456789")
        assert bench_latency_budget._finished(path)
        write(command + " --seeds=0", "vgg-0123456789")
        assert not bench_latency_budget._finished(path)
        # Another teacher (retrained since) makes it stale.
        write(command, "vgg-older")
        assert not bench_latency_budget._finished(path)


def _fake_prune(monkeypatch):
    """`tfc.prune` and the timings replaced by a step function of the
    MACs fraction: 0.10 ms per 0.1 of MACs, in widths of 0.1 (rounding)."""
    import tf_compact as tfc

    monkeypatch.setattr(
        tfc, "prune", lambda teacher, target_macs, **kw: round(target_macs, 1)
    )
    monkeypatch.setattr(bench_latency_budget, "_cost", lambda m: (1.0, 1.0))

    def latencies(models, repeats=None):
        return {
            arm: 0.21 if m == "by_latency" else max(m, 0.05)
            for arm, m in models.items()
        }

    monkeypatch.setattr(bench_latency_budget, "_latencies", latencies)


def test_the_macs_arm_is_never_faster_than_the_latency_arm(
    monkeypatch, parsed_flags
):
    # Candidates land at 0.2 ms (4.8% faster) or 0.3 ms (43% slower): none
    # within the 3% tolerance.
    _fake_prune(monkeypatch)
    with flagsaver.flagsaver(match="at_least", match_tolerance=0.03):
        model, _, steps = bench_latency_budget._match_macs(
            "teacher", "by_latency", {}
        )
        assert model == 0.3
        assert any(s["gap"] < 0 for s in steps)
    with flagsaver.flagsaver(match="closest", match_tolerance=0.03):
        model, _, _ = bench_latency_budget._match_macs(
            "teacher", "by_latency", {}
        )
        assert model == 0.2


def _tiny(units):
    import keras

    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(units)(inputs))


def test_an_interrupted_run_reads_its_students_back(
    tmp_path, monkeypatch, parsed_flags
):
    import tf_compact as tfc

    made = []

    def prune(teacher, **kwargs):
        made.append("latency")
        return _tiny(3)

    def match(teacher, by_latency, shape):
        made.append("macs")
        return _tiny(2), 0.4, [{"target_macs": 0.4, "gap": 0.01}]

    def fine_tune(teacher, student, bundle, seed):
        made.append(f"tune{seed}")
        return student, 12.5

    monkeypatch.setattr(tfc, "prune", prune)
    monkeypatch.setattr(bench_latency_budget, "_match_macs", match)
    monkeypatch.setattr(bench_latency_budget, "_fine_tune", fine_tune)
    monkeypatch.setattr(
        bench_latency_budget, "_accuracy", lambda model, bundle: 0.9
    )
    info = {"kind": "converged", "folder": "vgg-0123456789"}

    def run():
        latency, macs, target, steps = bench_latency_budget._students(
            "teacher", info, {"round_to": 8}, 0.1
        )
        tuned = bench_latency_budget._tuned(
            "teacher", macs, None, "macs", 1, info
        )
        return latency, macs, target, steps, tuned

    with flagsaver.flagsaver(work_dir=str(tmp_path), epochs=2):
        first = run()
        assert made == ["latency", "macs", "tune1"]
        again = run()
        assert made == ["latency", "macs", "tune1"]  # nothing made again
        assert [m.output.shape[-1] for m in again[:2]] == [3, 2]
        assert again[2:4] == (0.4, [{"target_macs": 0.4, "gap": 0.01}])
        model, accuracy, seconds = again[4]
        assert (accuracy, seconds) == (0.9, 12.5)
        np.testing.assert_array_equal(
            model.get_weights()[0], first[4][0].get_weights()[0]
        )
    # Other settings never read this run's students.
    with flagsaver.flagsaver(work_dir=str(tmp_path), epochs=3):
        run()
        assert made[3:] == ["latency", "macs", "tune1"]
