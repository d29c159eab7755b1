"""Runs scenarios in fresh processes and compares them with one device."""

import contextlib
import json
import os
import socket
import subprocess
import sys

import numpy as np

ROOT = os.path.abspath(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
)
# Values compared to the one-device run within a tolerance, and exactly.
CLOSE = (
    "losses",
    "val_losses",
    "accuracies",
    "strengths",
    "thresholds",
    "threshold",
    "gap",
    "scales",
    "bn_statistics",
)
EXACT = ("widths", "kept", "updates", "zeros", "bank_pointer")
RTOL, ATOL = 1e-5, 1e-6
DENSE_WIDTHS = {"c1": 6, "c2": 12, "logits": 3}


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **extra)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _command(strategies, scenarios, out):
    return [
        sys.executable,
        "-m",
        "tests.distribute.run_case",
        "--strategies",
        ",".join(strategies),
        "--scenarios",
        ",".join(scenarios),
        "--out",
        str(out),
    ]


def run(strategies, scenarios, out, timeout=600):
    """Runs `scenarios` under `strategies` in one fresh process."""
    proc = subprocess.run(
        _command(strategies, scenarios, out),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(out) as f:
        return json.load(f)


def free_ports(count):
    """Ports free on localhost now (bound once, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_workers(scenarios, folder, workers=2, timeout=600):
    """Runs `scenarios` under MultiWorkerMirroredStrategy in `workers`
    processes on localhost; returns each worker's results."""
    cluster = [f"localhost:{port}" for port in free_ports(workers)]
    outs = [os.path.join(folder, f"worker{i}.json") for i in range(workers)]
    logs = [os.path.join(folder, f"worker{i}.log") for i in range(workers)]
    with contextlib.ExitStack() as stack:
        procs = []
        for index in range(workers):
            config = {
                "cluster": {"worker": cluster},
                "task": {"type": "worker", "index": index},
            }
            log = stack.enter_context(open(logs[index], "w"))
            proc = subprocess.Popen(
                _command(["multi_worker"], scenarios, outs[index]),
                cwd=ROOT,
                env=_env(TF_CONFIG=json.dumps(config)),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, proc)
            procs.append(proc)
        codes = [proc.wait(timeout=timeout) for proc in procs]
    results = []
    for code, out, log in zip(codes, outs, logs):
        with open(log) as f:
            assert code == 0, f.read()[-4000:]
        with open(out) as f:
            results.append(json.load(f)["multi_worker"])
    return results


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def assert_same(reference, result, scenario):
    """Asserts that `result` trained like the one-device `reference`."""
    ref, got = reference[scenario], result[scenario]
    assert sorted(ref) == sorted(got)
    assert ref["losses"], "no step was recorded"
    for key in ("val_losses", "accuracies"):
        if key in ref:
            assert ref[key], f"{scenario}: no {key} recorded"
    for key in ref:
        where = f"{scenario}: {key}"
        if key in CLOSE:
            a = np.asarray(ref[key], dtype="float64")
            b = np.asarray(got[key], dtype="float64")
            assert a.shape == b.shape, where
            np.testing.assert_allclose(
                b, a, rtol=RTOL, atol=ATOL, err_msg=where
            )
        elif key in EXACT:
            assert got[key] == ref[key], where
        elif key == "bank":
            np.testing.assert_allclose(
                np.asarray(got[key]), np.asarray(ref[key]), atol=2e-5,
                err_msg=where,
            )
        elif key == "distributed":
            # Controller state lives beside the model's variables.
            assert ref[key] and not any(ref[key]), where
            assert got[key] and all(got[key]), where
        else:
            raise AssertionError(f"{where}: no comparison rule")
    if "widths" in ref and ref["widths"].keys() == DENSE_WIDTHS.keys():
        assert ref["widths"] != DENSE_WIDTHS, f"{scenario}: nothing pruned"


def run_snippet(code, timeout=600):
    """Runs Python `code` in a fresh process with the project importable;
    returns the `subprocess.CompletedProcess` (text output captured)."""
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
