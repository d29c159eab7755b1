"""Helpers every benchmark script shares: where results go and what each
results file records about the run that made it."""

import json
import os
import platform
import subprocess
import sys

RESULTS_DIR = "benchmarks/results"
#: Where `benchmarks/teachers.py` caches the converged teachers.
TEACHERS_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "teachers"
)


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


def git_sha(here=None):
    """The commit the run used, with `+dirty` for uncommitted changes.

    `here`: a folder of the checkout (defaults to this file's).
    """
    here = here or os.path.dirname(os.path.abspath(__file__))
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
    """What every results JSON records: machine, commit and full command.

    When the imported `tf_compact` comes from another checkout than the
    benchmark scripts, `library_git_sha` records that checkout's commit.
    """
    record = {
        "machine": machine(),
        "git_sha": git_sha(),
        "command": " ".join(["python"] + sys.argv),
    }
    library = sys.modules.get("tf_compact")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if library is not None and getattr(library, "__file__", None):
        root = os.path.dirname(
            os.path.dirname(os.path.abspath(library.__file__))
        )
        if root != here:
            record["library_git_sha"] = git_sha(root)
    return record


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


def tf_compact_oneshot(
    teacher,
    bundle,
    output_dir,
    *,
    target_macs,
    target_params,
    epochs=4,
    round_to=8,
    learning_rate=5e-3,
    temperature=4.0,
    student_loss_weight=0.9,
    tflite_modes=("float32",),
):
    """tf_compact's one-shot arm as the README's VGG headline runs it.

    One-shot L2 pruning of a copy of `teacher` with the sensitivity
    allocation of the budget, then `epochs` of logits KD (cosine from
    `learning_rate`); the same call as `bench_e2e.py --method=auto
    --allocation=sensitivity --finetune_epochs=0`. Returns the
    `tfc.compress` result (its `slim_model` is the student).
    """
    import keras

    import tf_compact as tfc

    copy = keras.models.clone_model(teacher)
    copy.set_weights(teacher.get_weights())
    copy.trainable = True
    return tfc.compress(
        copy,
        bundle,
        method=tfc.methods.OneShot(
            target_macs=target_macs,
            target_params=target_params,
            round_to=round_to,
            allocation="sensitivity",
        ),
        epochs=epochs,
        training=tfc.methods.Training(
            finetune_epochs=0,
            learning_rate=learning_rate,
            lr_schedule="cosine",
            temperature=temperature,
            student_loss_weight=student_loss_weight,
        ),
        export=tfc.methods.Export(tflite_modes=tflite_modes, benchmark_runs=20),
        output_dir=output_dir,
        verbose=2,
    )
