"""The BUILD files declare every module and test, so they cannot rot."""

import os

from tests import buildcheck

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_module_and_test_is_declared():
    problems = buildcheck.check_tree(ROOT)
    assert not problems, "BUILD files out of date:\n" + "\n".join(problems)


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_checker_finds_an_undeclared_module(tmp_path):
    root = str(tmp_path)
    _write(os.path.join(root, "BUILD"), "")
    _write(
        os.path.join(root, "tf_compact", "BUILD"),
        'py_library(name = "tf_compact", srcs = ["__init__.py"])\n',
    )
    _write(os.path.join(root, "tf_compact", "__init__.py"), "")
    _write(os.path.join(root, "tf_compact", "extra.py"), "")
    problems = buildcheck.check_tree(root)
    assert problems == [
        "tf_compact/extra.py is not declared in tf_compact/BUILD"
    ]


def test_checker_finds_a_test_not_declared_as_py_test(tmp_path):
    root = str(tmp_path)
    _write(os.path.join(root, "BUILD"), "")
    _write(
        os.path.join(root, "tests", "BUILD"),
        'py_library(name = "t", srcs = ["test_x.py"])\n',
    )
    _write(os.path.join(root, "tests", "test_x.py"), "")
    assert buildcheck.check_tree(root) == [
        "tests/test_x.py is a test but declared as py_library"
    ]


def test_checker_finds_unknown_deps_and_missing_files(tmp_path):
    root = str(tmp_path)
    _write(os.path.join(root, "BUILD"), "")
    _write(
        os.path.join(root, "examples", "BUILD"),
        'py_binary(name = "a", srcs = ["a.py"], deps = ["//nowhere:x"])\n',
    )
    problems = buildcheck.check_tree(root)
    assert "examples:a lists missing file a.py" in problems
    assert "examples:a depends on unknown //nowhere:x" in problems
