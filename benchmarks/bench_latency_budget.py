"""A MACs budget vs a latency budget of the same measured latency.

The VGG teacher (`tfc.models.vgg()`) is trained on Fashion-MNIST (cached in
`--work_dir`). It is pruned twice with `tfc.prune` (global ranking, widths
rounded to `--round_to`):

- `macs`: to `--target_macs` of its MACs; the slim model's latency `L` is
  measured on the TFLite interpreter (float32, batch 1, `--threads`);
- `latency`: to `target_latency=L`, from the per-group latency table of
  `tf_compact.pruning.latency` (built here, cached on disk).

Both students are then fine-tuned the same way, with `tfc.Distiller` and
`tfc.LogitsKD`, and compared: test accuracy, MACs, parameters, measured
latency (interleaved measurements, best of `--repeats`), the latency the
table predicts (additive, and corrected for layers shared by two cut
groups as `prune` uses it), and the kept width of every group. Results go to
`<results_dir>/<name>.json` and `.md`, with the command at the top.

```shell
python benchmarks/bench_latency_budget.py
# a quick check
python benchmarks/bench_latency_budget.py --limit=4096 --epochs=1 \\
    --teacher_epochs=1 --name=quick
```
"""

import json
import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402

TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", 4, "Teacher epochs.")
EPOCHS = flags.DEFINE_integer("epochs", 4, "KD fine-tune epochs per student.")
TARGET_MACS = flags.DEFINE_float("target_macs", 0.25, "MACs target.")
ROUND_TO = flags.DEFINE_integer("round_to", 8, "`round_to` of both prunes.")
THREADS = flags.DEFINE_integer("threads", 1, "Interpreter threads.")
RUNS = flags.DEFINE_integer("runs", 200, "Timed invokes per measurement.")
REPEATS = flags.DEFINE_integer(
    "repeats", 5, "Interleaved measurements per model; the best is kept."
)
TEMPERATURE = flags.DEFINE_float("temperature", 4.0, "LogitsKD temperature.")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Batch size.")
LIMIT = flags.DEFINE_integer("limit", None, "Cap on examples (quick runs).")
SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
NAME = flags.DEFINE_string("name", "vgg", "Base name of the results.")
RESULTS = flags.DEFINE_string(
    "results_dir",
    os.path.join(common.RESULTS_DIR, "latency_budget"),
    "Where the JSON and markdown land.",
)
WORK_DIR = flags.DEFINE_string(
    "work_dir",
    os.path.join(os.path.expanduser("~"), ".cache", "tf_compact_bench"),
    "Teacher cache.",
)


def _data():
    import tf_compact as tfc

    return tfc.data.load(
        "fashion_mnist",
        batch_size=BATCH_SIZE.value,
        limit=LIMIT.value,
        seed=SEED.value,
    )


def _ce():
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _teacher(bundle):
    """The cached teacher, or a freshly trained (and cached) one."""
    import keras

    import tf_compact as tfc

    name = f"latency_vgg_e{TEACHER_EPOCHS.value}_b{BATCH_SIZE.value}"
    name += f"_s{SEED.value}" + (f"_n{LIMIT.value}" if LIMIT.value else "")
    path = os.path.join(WORK_DIR.value, name + ".keras")
    if os.path.exists(path):
        return keras.saving.load_model(path, compile=False), True
    keras.utils.set_random_seed(SEED.value)
    teacher = tfc.models.vgg()
    teacher.compile(keras.optimizers.Adam(1e-3), _ce(), metrics=["accuracy"])
    teacher.fit(bundle.train, epochs=TEACHER_EPOCHS.value, verbose=2)
    os.makedirs(WORK_DIR.value, exist_ok=True)
    teacher.save(path)
    return teacher, False


def _copy(model):
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _accuracy(model, bundle):
    model.compile(loss=_ce(), metrics=["accuracy"])
    return float(
        model.evaluate(bundle.test, verbose=0, return_dict=True)["accuracy"]
    )


def _fine_tune(teacher, student, bundle, seed):
    import keras

    import tf_compact as tfc

    keras.utils.set_random_seed(seed)
    distiller = tfc.Distiller(
        _copy(teacher),
        student,
        [tfc.LogitsKD(TEMPERATURE.value)],
        student_loss_weight=0.5,
    )
    distiller.compile(keras.optimizers.Adam(1e-3), _ce(), metrics=["accuracy"])
    start = time.time()
    distiller.fit(bundle.train, epochs=EPOCHS.value, verbose=2)
    return distiller.student, time.time() - start


def _latencies(models):
    """Interleaved measurements of every model; each one's best."""
    from tf_compact.pruning.latency import measure_latency

    best = {}
    for _ in range(REPEATS.value):
        for name, model in models.items():
            ms = measure_latency(
                model, THREADS.value, runs=RUNS.value, repeats=1
            )
            best[name] = min(best.get(name, ms), ms)
    return best


def _widths(model):
    import tf_compact as tfc

    return {g.name: g.size for g in tfc.ChannelGraph(model).groups}


def _cost(model):
    import tf_compact as tfc

    macs, params = tfc.estimate_slim_cost(model)
    return int(macs), int(params)


def _markdown(payload):
    run, arms = payload["run"], payload["arms"]
    lines = [
        "# MACs budget vs latency budget (VGG, Fashion-MNIST)",
        "",
        f"`{run['command']}`",
        "",
        f"Machine: {run['machine']}; commit `{run['git_sha']}`; "
        f"{payload['threads']} interpreter thread(s), "
        f"{payload['runtime']}.",
        "",
        f"Teacher: accuracy {payload['teacher']['accuracy']:.4f}, "
        f"{payload['teacher']['macs']:,} MACs, "
        f"{payload['teacher']['params']:,} params, "
        f"{payload['teacher']['latency_ms']:.4f} ms"
        + (" (cached)" if payload["teacher"]["cached"] else "")
        + ".",
        "",
        f"Latency table: {payload['table']['seconds']:.1f} s to build, "
        f"{payload['table']['seconds_again']:.2f} s from the cache; "
        f"measured unpruned {payload['table']['model_ms']:.4f} ms.",
        "",
        "| arm | budget | accuracy | MACs | params | latency ms "
        "| predicted ms (additive) | predicted ms (corrected) | prune s "
        "| widths |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, arm in arms.items():
        widths = ", ".join(f"{k}={v}" for k, v in arm["widths"].items())
        lines.append(
            f"| {name} | {arm['budget']} | {arm['accuracy']:.4f} | "
            f"{arm['macs']:,} | {arm['params']:,} | "
            f"{arm['latency_ms']:.4f} | {arm['predicted_ms']:.4f} | "
            f"{arm['corrected_ms']:.4f} | "
            f"{arm['prune_seconds']:.1f} | {widths} |"
        )
    lines += [
        "",
        "Accuracy after the same KD fine-tune "
        f"({payload['epochs']} epoch(s), `tfc.LogitsKD`). Latency: best "
        f"of {payload['repeats']} interleaved medians of {payload['runs']} "
        "invokes. Predicted: the table's additive prediction, and the one "
        "`prune` uses (savings scaled by the MACs the cuts save together "
        "rather than alone).",
        "",
    ]
    return "\n".join(lines)


def main(argv):
    del argv
    import keras
    import numpy as np

    import tf_compact as tfc
    from tf_compact.internal import interpreter
    from tf_compact.pruning.latency import build_latency_table
    from tf_compact.pruning.latency_table import LatencyPredictor

    bundle = _data()
    teacher, cached = _teacher(bundle)
    start = time.time()
    table = build_latency_table(
        teacher, num_threads=THREADS.value, round_to=ROUND_TO.value
    )
    table_seconds = time.time() - start
    graph = tfc.ChannelGraph(teacher)
    predictor = LatencyPredictor(table, graph)
    start = time.time()
    build_latency_table(
        teacher, num_threads=THREADS.value, round_to=ROUND_TO.value
    )
    table_again = time.time() - start

    start = time.time()
    by_macs = tfc.prune(
        teacher, target_macs=TARGET_MACS.value, round_to=ROUND_TO.value
    )
    macs_seconds = time.time() - start
    measured = _latencies({"macs": by_macs})["macs"]
    start = time.time()
    by_latency = tfc.prune(
        teacher,
        target_latency=measured,
        round_to=ROUND_TO.value,
        num_threads=THREADS.value,
    )
    latency_seconds = time.time() - start
    students = {"macs": by_macs, "latency": by_latency}
    budgets = {
        "macs": f"target_macs={TARGET_MACS.value:g}",
        "latency": f"target_latency={measured:.4f} ms",
    }
    seconds = {"macs": macs_seconds, "latency": latency_seconds}
    arms = {}
    for i, (name, student) in enumerate(students.items()):
        tuned, fit_seconds = _fine_tune(
            teacher, student, bundle, SEED.value + i
        )
        macs, params = _cost(tuned)
        widths = _widths(tuned)
        arms[name] = {
            "budget": budgets[name],
            "accuracy": _accuracy(tuned, bundle),
            "macs": macs,
            "params": params,
            "widths": widths,
            "predicted_ms": table.predict(widths),
            "corrected_ms": predictor(
                {
                    n: np.arange(graph.group(n).size) < w
                    for n, w in widths.items()
                }
            ),
            "prune_seconds": seconds[name],
            "fine_tune_seconds": fit_seconds,
        }
        students[name] = tuned
    latencies = _latencies({"teacher": teacher, **students})
    for name in arms:
        arms[name]["latency_ms"] = latencies[name]
    macs, params = _cost(teacher)
    payload = {
        "threads": THREADS.value,
        "runtime": interpreter.runtime_name(),
        "runs": RUNS.value,
        "repeats": REPEATS.value,
        "epochs": EPOCHS.value,
        "teacher_epochs": TEACHER_EPOCHS.value,
        "limit": LIMIT.value,
        "teacher": {
            "accuracy": _accuracy(_copy(teacher), bundle),
            "macs": macs,
            "params": params,
            "latency_ms": latencies["teacher"],
            "cached": cached,
        },
        "table": {
            "seconds": table_seconds,
            "seconds_again": table_again,
            "model_ms": table.model_ms,
            "groups": table.get_config()["groups"],
        },
        "arms": arms,
    }
    path = common.result_path(RESULTS.value, NAME.value, ".json")
    common.write_json(path, payload)
    with open(path, encoding="utf-8") as f:
        payload = json.load(f)
    common.write_text(
        common.result_path(RESULTS.value, NAME.value, ".md"),
        _markdown(payload),
    )
    keras.backend.clear_session()
    print(_markdown(payload))


if __name__ == "__main__":
    app.run(main)
