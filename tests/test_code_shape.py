"""Module and function sizes in tf_compact stay within the house limits."""

import importlib.util
import os
import pathlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SPEC = importlib.util.spec_from_file_location(
    "code_shape", os.path.join(ROOT, "tools", "code_shape.py")
)
code_shape = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(code_shape)


def test_no_module_or_function_is_over_the_limits():
    found = code_shape.problems()
    assert not found, "\n".join(found)


def _write(tmp_path, text):
    package = tmp_path / "pkg"
    package.mkdir(parents=True, exist_ok=True)
    path = package / "mod.py"
    path.write_text(text)
    return path


def _function(body_lines, reason=False, docstring=True):
    lines = ["def f():"]
    if docstring:
        lines.append('    """Doc."""')
    if reason:
        lines.append("    # Long: one table, read top to bottom.")
    lines += [f"    x{i} = {i}" for i in range(body_lines)]
    return "\n".join(lines) + "\n"


def test_the_check_finds_a_long_module_and_a_long_function(tmp_path):
    path = _write(tmp_path, _function(61))
    found = code_shape.problems_in(pathlib.Path(path), tmp_path)
    assert len(found) == 1 and "f(): 61 lines of code" in found[0]
    long_module = "\n".join(f"x{i} = {i}" for i in range(351)) + "\n"
    path.write_text(long_module)
    found = code_shape.problems_in(pathlib.Path(path), tmp_path)
    assert found == ["pkg/mod.py: 351 lines (at most 350)"]


def test_a_reason_or_a_short_body_passes(tmp_path):
    for text in (_function(60), _function(80, reason=True)):
        path = _write(tmp_path, text)
        assert code_shape.problems_in(pathlib.Path(path), tmp_path) == []
