"""The README's promises: two shell commands and a quickstart that runs."""

import functools
import os
import re

import tf_compact as tfc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_exactly_two_commands_and_ci_runs_the_second():
    shells = re.findall(r"```shell\n(.*?)```", _readme(), re.S)
    commands = [c.strip() for c in shells[:2]]
    assert len(commands) == 2
    assert all(len(c.splitlines()) == 1 for c in commands)
    assert "examples/compress.py" in commands[0]
    assert commands[1] == "bash .ci/run"
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read()
    assert "pytest" in ci and "pip install" in ci


def test_quickstart_runs(monkeypatch, tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", _readme(), re.S)
    assert len(blocks) >= 4, "the quickstart and three user stories"
    code = "\n".join(blocks)
    # Every block as written, in order, on a slice of the built-in data.
    monkeypatch.setattr(
        tfc.data, "builtin", functools.partial(tfc.data.builtin, limit=384)
    )
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    teacher_macs = tfc.profile(namespace["teacher"]).macs
    assert tfc.profile(namespace["slim"]).macs <= 0.52 * teacher_macs
    result = namespace["result"]
    assert tfc.profile(result.slim_model).macs < teacher_macs
    assert (tmp_path / "runs" / "quickstart" / "report.json").is_file()
    assert bytes(namespace["tflite"])[4:8] == b"TFL3"
    assert tfc.profile(namespace["small"]).params <= 0.52 * tfc.profile(
        namespace["teacher"]
    ).params
    assert tfc.profile(namespace["budgeted"]).macs < teacher_macs
    assert (tmp_path / "runs" / "int8" / "report.md").is_file()
