"""`benchmarks/bench_latency_budget.py` keeps a finished result."""

import json
import os
import sys

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
