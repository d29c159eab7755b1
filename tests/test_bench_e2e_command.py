"""`benchmarks/bench_e2e.py` records every flag that changes its results.

Each result file starts with the command that produced it, and the run's
checkpoint key is a hash of that command, so a flag left out of it would
make a result irreproducible and let two different runs share checkpoints.
"""

import ast
import os

_PATH = os.path.join(
    os.path.dirname(__file__), "..", "benchmarks", "bench_e2e.py"
)
# Where files go, not what is computed.
_NOT_RECORDED = {"results_dir", "work_dir"}


def _tree():
    with open(_PATH, encoding="utf-8") as f:
        return ast.parse(f.read())


def _defined_flags(tree):
    names = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr.startswith("DEFINE_")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.append(node.args[0].value)
    return names


def _recorded_flags(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "_command":
            for stmt in ast.walk(node):
                if (
                    isinstance(stmt, ast.Assign)
                    and stmt.targets[0].id == "names"
                ):
                    return [e.value for e in stmt.value.elts]
    raise AssertionError("_command() with a `names` tuple not found")


def test_every_result_changing_flag_is_in_the_recorded_command():
    tree = _tree()
    defined = _defined_flags(tree)
    recorded = _recorded_flags(tree)
    assert "standardize_logits" in defined
    missing = set(defined) - _NOT_RECORDED - set(recorded)
    assert not missing, f"flags missing from _command(): {sorted(missing)}"
    unknown = set(recorded) - set(defined)
    assert not unknown, f"_command() names unknown flags: {sorted(unknown)}"
    assert len(recorded) == len(set(recorded))
