"""Run Python in a child process from the repository root, for tests.

Tests use a child process where a failure could take the whole process
down (a segfault in a runtime) or where the test needs a fresh process
(logical devices, another Keras backend, import order).
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(args, timeout=300, **env):
    """Runs `python *args` in ROOT with the repository first on the path.

    `args` is what follows the interpreter (`["-c", code]`,
    `["-m", module]`); keyword arguments are added to the environment (a
    `PYTHONPATH` given goes after the repository).
    TensorFlow's C++ logging is quiet unless `TF_CPP_MIN_LOG_LEVEL` is given.
    Returns the `subprocess.CompletedProcess` with text output captured.
    """
    environ = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    extra = env.pop("PYTHONPATH", os.environ.get("PYTHONPATH"))
    environ.update(env)
    environ["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [extra] if p])
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def last_json(proc):
    """The JSON object on the child's last line of output.

    Fails the test with the end of the child's error output if the child
    exited with a non-zero status.
    """
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
