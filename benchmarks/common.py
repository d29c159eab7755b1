"""Helpers every benchmark script shares: where results go and what each
results file records about the run that made it."""

import json
import os
import platform
import subprocess
import sys

RESULTS_DIR = "benchmarks/results"


def machine():
    """The CPU model and core count, e.g. `"AMD EPYC 9B14 (2 cores)"`."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} cores)"


def git_sha():
    """The commit the run used, with `+dirty` for uncommitted changes."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def run_record():
    """What every results JSON records: machine, commit and full command."""
    return {
        "machine": machine(),
        "git_sha": git_sha(),
        "command": " ".join(["python"] + sys.argv),
    }


def result_path(results_dir, name, suffix):
    """`<results_dir>/<name><suffix>`, its folder created.

    `name` may hold folders (`e2e/vgg/sensitivity/seed0`): results are
    kept by experiment.
    """
    path = os.path.join(results_dir, name + suffix)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return path


def write_json(path, payload):
    """Writes `payload` plus the run record as JSON, creating folders."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"run": run_record(), **payload}, f, indent=2)


def write_text(path, text):
    """Writes a markdown (or any text) result, creating folders."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
