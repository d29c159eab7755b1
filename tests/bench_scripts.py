"""Imports a benchmark script for its functions, whatever flags exist.

Benchmark scripts define absl flags at import; names such as `epochs` or
`finetune_epochs` are also defined by other scripts and by the command
line, and a second definition raises `DuplicateFlagError`. The tests only
call the scripts' functions, which take no flag values, so the script's
clashing definitions are made and then the flags that were there before
are put back.
"""

import ast
import importlib
import json
import os
import re
import subprocess
import sys

from absl import flags

BENCH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"
)


def import_script(name):
    """Imports `benchmarks/<name>.py` and returns the module."""
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)
    if name in sys.modules:
        return sys.modules[name]
    saved = {}
    for _ in range(500):
        before_flags, before_modules = set(flags.FLAGS), set(sys.modules)
        try:
            module = importlib.import_module(name)
            break
        except flags.DuplicateFlagError as e:
            flag = re.search(r"The flag '([^']+)'", str(e)).group(1)
            # What the failed try defined and imported goes, so the next
            # try defines it again: each try moves one clashing flag aside.
            for new in set(flags.FLAGS) - before_flags:
                if new in flags.FLAGS:
                    delattr(flags.FLAGS, new)
            for module_name in set(sys.modules) - before_modules:
                sys.modules.pop(module_name, None)
            if flag not in saved and flag in flags.FLAGS:
                owner = flags.FLAGS.find_module_defining_flag(flag)
                saved[flag] = (flags.FLAGS[flag], owner)
                delattr(flags.FLAGS, flag)
            sys.modules.pop(name, None)
    else:
        raise RuntimeError(f"could not import benchmarks/{name}.py")
    for flag, (old, owner) in saved.items():
        if flag in flags.FLAGS:
            delattr(flags.FLAGS, flag)
        flags.FLAGS[flag] = old
        if owner is not None:
            flags.FLAGS.register_flag_by_module(owner, old)
    return module


def defined_flags(name):
    """The names of the absl flags `benchmarks/<name>.py` defines."""
    with open(os.path.join(BENCH, f"{name}.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith("DEFINE_")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def tiny_teacher(teachers_dir):
    """Writes an untrained small VGG as the finished teacher `tiny` of a
    `benchmarks/teachers.py` store in `teachers_dir` (for end-to-end runs
    of the benchmark scripts on little data)."""
    import keras

    import tf_compact as tfc

    keras.utils.set_random_seed(0)
    model = tfc.models.vgg(blocks=((16,), (32,)), dense_units=32)
    folder = os.path.join(teachers_dir, "tiny-0123456789")
    os.makedirs(folder)
    model.save(os.path.join(folder, "teacher.keras"))
    with open(os.path.join(folder, "teacher.json"), "w") as f:
        json.dump({"finished": True, "test_accuracy": 0.1}, f)


def run_script(name, args):
    """Runs `benchmarks/<name>.py args` in a fresh Python process that
    imports this checkout's tf_compact; returns the `CompletedProcess`."""
    root = os.path.dirname(BENCH)
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=path)
    return subprocess.run(
        [sys.executable, os.path.join(BENCH, f"{name}.py"), *args],
        capture_output=True,
        text=True,
        env=env,
    )
