"""Pruned candidates judged on BN statistics that match their weights.

`tfc.pruning` measures a sensitivity table by cutting one channel group
at a time and comparing the cut model's predictions with the full
model's. A cut changes the inputs of every BN layer behind it, so the
moving statistics no longer match; the pipeline recalibrates a slim model
before it uses it. This script measures, per model, whether judging the
candidates with batch statistics (`sensitivity_table(recalibrate=True)`)
instead of the moving ones (`recalibrate=False`) changes:

- the ranking of the table's cells (Spearman over every `(group, width)`
  cut, and over the groups ordered by their mean loss);
- the widths `allocate` gives for a MACs target, and the test accuracy of
  the slim model, recalibrated, right after pruning and after a short
  fine-tune (recalibrated again), as the pipeline would use it;
- the seconds each table takes.

It also records the cheap staleness signal (cross-entropy in inference
mode and with batch statistics, on one batch) and its seconds.

Models: `keras.applications.MobileNetV2(alpha=0.35, weights=None)` at
32x32x3 (BN momentum 0.999, as built) and the project's VGG (BN momentum
0.9), each trained a few hundred steps on a Fashion-MNIST subset. Teachers
and tables are cached in `--work_dir`, so a rerun resumes.

```shell
python benchmarks/bench_bn_candidates.py
# a quick check
python benchmarks/bench_bn_candidates.py --case=vgg --steps=50 \\
    --finetune_steps=10 --name=quick
```
"""

import json
import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402

CASES = ("mobilenetv2", "vgg")
CASE = flags.DEFINE_multi_enum("case", list(CASES), list(CASES), "Models.")
STEPS = flags.DEFINE_integer("steps", 300, "Teacher training steps.")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Batch size.")
LIMIT = flags.DEFINE_integer(
    "limit", 6400, "Training (and test) examples of Fashion-MNIST."
)
TABLE_BATCHES = flags.DEFINE_integer(
    "table_batches", 4, "Training batches the sensitivity tables read."
)
TARGET_MACS = flags.DEFINE_float("target_macs", 0.5, "MACs target.")
ROUND_TO = flags.DEFINE_integer("round_to", 8, "Widths rounded to this.")
FINETUNE = flags.DEFINE_integer(
    "finetune_steps", 100, "Fine-tuning steps of each slim model."
)
RECAL_BATCHES = flags.DEFINE_integer(
    "recalibration_batches", 50, "Training batches of each recalibration."
)
SOURCE = flags.DEFINE_string(
    "source", "auto", "Fashion-MNIST source of `tfc.data.load`."
)
SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
NAME = flags.DEFINE_string("name", "candidates", "Base name of the results.")
RESULTS = flags.DEFINE_string(
    "results_dir",
    os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "results",
        "bn_recalibration",
    ),
    "Where the JSON and markdown land.",
)
WORK_DIR = flags.DEFINE_string(
    "work_dir", "/tmp/tf_compact_bench_bn_candidates", "Caches."
)

PAD = 2  # 28x28 -> 32x32


def _data(case):
    import tensorflow as tf

    import tf_compact as tfc

    bundle = tfc.data.load(
        "fashion_mnist",
        batch_size=BATCH_SIZE.value,
        source=SOURCE.value,
        limit=LIMIT.value,
        seed=SEED.value,
    )
    if case != "mobilenetv2":
        return bundle.train, bundle.test, bundle.source

    def pad(x, y):
        x = tf.pad(x, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]])
        return tf.image.grayscale_to_rgb(x), y

    def prepare(dataset):
        return dataset.map(pad, num_parallel_calls=tf.data.AUTOTUNE)

    return prepare(bundle.train), prepare(bundle.test), bundle.source


def _build(case):
    import keras

    import tf_compact as tfc

    if case == "mobilenetv2":
        return keras.applications.MobileNetV2(
            alpha=0.35,
            input_shape=(32, 32, 3),
            weights=None,
            classes=10,
            classifier_activation=None,
        )
    return tfc.models.vgg()


def _fit(model, train, steps, learning_rate=1e-3):
    import keras

    model.compile(
        keras.optimizers.Adam(learning_rate),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(
        train.repeat(), steps_per_epoch=steps, epochs=1, verbose=0
    )
    return float(history.history["accuracy"][-1])


def _teacher(case, train):
    import keras

    name = f"{case}_s{STEPS.value}_b{BATCH_SIZE.value}_n{LIMIT.value}"
    path = os.path.join(WORK_DIR.value, f"{name}_seed{SEED.value}.keras")
    meta_path = path[: -len(".keras")] + ".json"
    if os.path.exists(path) and os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        return keras.saving.load_model(path, compile=False), meta
    keras.utils.set_random_seed(SEED.value)
    model = _build(case)
    start = time.time()
    train_accuracy = _fit(model, train, STEPS.value)
    model.save(path)
    meta = {
        "steps": STEPS.value,
        "train_accuracy": train_accuracy,
        "seconds": time.time() - start,
    }
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    return model, meta


def _staleness(model, batch):
    """Cross-entropy in inference mode and on batch statistics, one batch."""
    import keras
    import numpy as np

    from tf_compact.internal import batch_norm

    x, y = batch
    start = time.perf_counter()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    inference = float(loss(y, model(x, training=False)))
    ((_, out),) = batch_norm.batch_statistics_outputs(
        model, np.asarray(x), batch_size=len(x), compiled=False
    )
    stats = float(loss(y, out))
    return {
        "inference_loss": inference,
        "batch_stats_loss": stats,
        "seconds": time.perf_counter() - start,
    }


def _table(case, model, graph, scores, inputs, recalibrate):
    from tf_compact.pruning.sensitivity import sensitivity_table

    path = os.path.join(
        WORK_DIR.value,
        f"{case}_s{STEPS.value}_seed{SEED.value}_t{TABLE_BATCHES.value}"
        f"_r{ROUND_TO.value}_table_{recalibrate}.json",
    )
    if os.path.exists(path):
        with open(path) as f:
            stored = json.load(f)
        table = {
            name: {int(w): v for w, v in row.items()}
            for name, row in stored["table"].items()
        }
        return table, stored["seconds"]
    start = time.perf_counter()
    table = sensitivity_table(
        model,
        graph,
        scores,
        inputs,
        step=ROUND_TO.value,
        batches=len(inputs),
        recalibrate=recalibrate,
    )
    seconds = time.perf_counter() - start
    with open(path, "w") as f:
        json.dump({"table": table, "seconds": seconds}, f)
    return table, seconds


def _ranks(values):
    import numpy as np

    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks


def _spearman(a, b):
    import numpy as np

    if len(a) < 2:
        return None
    ra, rb = _ranks(np.asarray(a)), _ranks(np.asarray(b))
    if np.std(ra) == 0 or np.std(rb) == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _compare(plain, recal):
    import numpy as np

    cells = [
        (name, width)
        for name, row in plain.items()
        for width in row
        if width != max(row)
    ]
    groups = sorted(plain)
    return {
        "cells": len(cells),
        "spearman_cells": _spearman(
            [plain[n][w] for n, w in cells], [recal[n][w] for n, w in cells]
        ),
        "spearman_groups": _spearman(
            [np.mean(list(plain[n].values())) for n in groups],
            [np.mean(list(recal[n].values())) for n in groups],
        ),
    }


def _slim_accuracy(model, graph, scores, widths, train, test):
    """Test accuracy of the slim model: recalibrated, then fine-tuned."""
    import keras

    import tf_compact as tfc
    from tf_compact.pipeline.training import accuracy
    from tf_compact.pruning.selection import top_mask

    masks = {
        name: top_mask(scores[name], k)
        for name, k in widths.items()
        if k < len(scores[name])
    }
    slim = tfc.slim(model, masks, graph=graph)
    tfc.sparsity.recalibrate_batch_norm(
        slim, train, max_batches=RECAL_BATCHES.value
    )
    row = {
        "macs_fraction": tfc.profile(slim).macs / tfc.profile(model).macs,
        "after_pruning": accuracy(slim, test),
        "after_finetune": None,
    }
    if FINETUNE.value:
        keras.utils.set_random_seed(SEED.value)
        _fit(slim, train, FINETUNE.value)
        tfc.sparsity.recalibrate_batch_norm(
            slim, train, max_batches=RECAL_BATCHES.value
        )
        row["after_finetune"] = accuracy(slim, test)
    return row


def _case(case):
    import tf_compact as tfc
    from tf_compact.pipeline.training import accuracy
    from tf_compact.pruning.sensitivity import allocate

    train, test, source = _data(case)
    model, meta = _teacher(case, train)
    fixed = keras_copy(model)
    tfc.sparsity.recalibrate_batch_norm(
        fixed, train, max_batches=RECAL_BATCHES.value
    )
    batches = list(train.take(TABLE_BATCHES.value).as_numpy_iterator())
    inputs = [x for x, _ in batches]
    graph = tfc.ChannelGraph(model)
    scores = tfc.group_importance(model, graph, criterion="l2")
    row = {
        "case": case,
        "data": source,
        "teacher": {
            **meta,
            "inference_accuracy": accuracy(model, test),
            "recalibrated_accuracy": accuracy(fixed, test),
        },
        "staleness": _staleness(model, batches[0]),
        "groups": len(scores),
        "arms": {},
    }
    tables = {}
    for recalibrate in (False, True):
        table, seconds = _table(case, model, graph, scores, inputs, recalibrate)
        tables[recalibrate] = table
        widths = allocate(
            graph,
            scores,
            table,
            [(0, TARGET_MACS.value)],
            ROUND_TO.value,
            1,
        )
        row["arms"][str(recalibrate)] = {
            "table_seconds": seconds,
            "widths": widths,
            **_slim_accuracy(model, graph, scores, widths, train, test),
        }
    row["ranking"] = _compare(tables[False], tables[True])
    plain, recal = (row["arms"][k]["widths"] for k in ("False", "True"))
    row["widths_differ"] = sum(plain[n] != recal[n] for n in plain)
    row["width_change"] = sum(abs(plain[n] - recal[n]) for n in plain)
    return row


def keras_copy(model):
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _pct(value):
    return "–" if value is None else f"{100 * value:.2f}%"


def _num(value, digits=2):
    return "–" if value is None else f"{value:.{digits}f}"


def _markdown(result):
    lines = [
        "# Pruned candidates judged on batch statistics",
        "",
        "```shell",
        result["run"]["command"],
        "```",
        "",
        f"Machine: {result['run']['machine']}. Sensitivity tables on "
        f"{TABLE_BATCHES.value} training batches of {BATCH_SIZE.value}; "
        f"MACs target {TARGET_MACS.value:g}, widths rounded to "
        f"{ROUND_TO.value}; each slim model recalibrated on "
        f"{RECAL_BATCHES.value} batches, fine-tuned {FINETUNE.value} steps "
        "and recalibrated again.",
        "",
        "| model | teacher: inference / recalibrated | CE inference / batch "
        "stats (s) | Spearman cells / groups | groups whose width "
        "differs | table s: moving / batch stats | pruned acc: moving / "
        "batch stats | fine-tuned acc: moving / batch stats |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["cases"]:
        plain, recal = row["arms"]["False"], row["arms"]["True"]
        stale = row["staleness"]
        lines.append(
            f"| {row['case']} | "
            f"{_pct(row['teacher']['inference_accuracy'])} / "
            f"{_pct(row['teacher']['recalibrated_accuracy'])} | "
            f"{_num(stale['inference_loss'])} / "
            f"{_num(stale['batch_stats_loss'])} "
            f"({_num(stale['seconds'])}) | "
            f"{_num(row['ranking']['spearman_cells'])} / "
            f"{_num(row['ranking']['spearman_groups'])} | "
            f"{row['widths_differ']} of {row['groups']} "
            f"(Σ|Δ| {row['width_change']}) | "
            f"{_num(plain['table_seconds'], 0)} / "
            f"{_num(recal['table_seconds'], 0)} | "
            f"{_pct(plain['after_pruning'])} / "
            f"{_pct(recal['after_pruning'])} | "
            f"{_pct(plain['after_finetune'])} / "
            f"{_pct(recal['after_finetune'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    os.makedirs(WORK_DIR.value, exist_ok=True)
    start = time.time()
    cases = [_case(case) for case in CASE.value]
    payload = {"cases": cases, "seconds": time.time() - start}
    path = common.result_path(RESULTS.value, NAME.value, ".json")
    common.write_json(path, payload)
    with open(path) as f:
        result = json.load(f)
    text = _markdown(result)
    common.write_text(
        common.result_path(RESULTS.value, NAME.value, ".md"), text
    )
    print(text)


if __name__ == "__main__":
    app.run(main)
