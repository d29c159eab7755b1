"""BN statistics that lag the weights: the teacher check and the student.

A `keras.applications.MobileNetV2` (BN momentum 0.999, logits head) is
trained on Fashion-MNIST padded to 32x32x3, then compressed with
`tfc.compress` (one-shot, MACs and params targets, widths rounded). The
script writes, to `--results_dir`, as JSON and markdown with the command at
the top:

- the teacher's inference accuracy as trained (moving statistics that lag)
  and after `tfc.sparsity.recalibrate_batch_norm` on a copy, its accuracy
  with batch statistics, the pipeline's teacher check, the seconds;
- per arm, the student accuracy `compress` reports (Keras, TFLite float32
  and int8), the accuracy its final model had before the pipeline's last
  recalibration (what the report showed without it), the saved student's
  accuracy after a fresh recalibration, and every recalibration's batches
  and seconds.

Arms: `recalibrated_teacher` (compress the teacher recalibrated by hand,
as the user of the issue did), `no_student_recalibration` (the same with
the pipeline's student recalibrations switched off, as before they
existed) and `recalibrate_teacher_flag` (compress the stale teacher with
`recalibrate_teacher=True`).

The trained teacher is cached in `--work_dir`, so a rerun skips it.

```shell
python benchmarks/bench_bn_recalibration.py
# a quick check
python benchmarks/bench_bn_recalibration.py --limit=2000 \\
    --teacher_epochs=1 --epochs=1 --name=quick
```
"""

import json
import os
import time

from absl import app
from absl import flags

ALPHA = flags.DEFINE_float("alpha", 0.5, "MobileNetV2 width multiplier.")
TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", 6, "Teacher epochs.")
EPOCHS = flags.DEFINE_integer("epochs", 4, "compress `epochs`.")
FINETUNE = flags.DEFINE_integer(
    "finetune_epochs", 0, "compress `finetune_epochs`."
)
TARGET_MACS = flags.DEFINE_float("target_macs", 0.25, "MACs target.")
TARGET_PARAMS = flags.DEFINE_float("target_params", 0.1, "Params target.")
ROUND_TO = flags.DEFINE_integer("round_to", 8, "compress `round_to`.")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Batch size.")
RECAL_BATCHES = flags.DEFINE_integer(
    "recalibration_batches",
    200,
    "Training batches of the hand recalibrations (teacher, saved student).",
)
LIMIT = flags.DEFINE_integer("limit", None, "Cap on examples (quick runs).")
SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
ALL_ARMS = (
    "recalibrated_teacher",
    "no_student_recalibration",
    "recalibrate_teacher_flag",
)
ARMS = flags.DEFINE_multi_enum(
    "arm", list(ALL_ARMS), list(ALL_ARMS), "Compress runs (repeatable)."
)
NAME = flags.DEFINE_string("name", "mobilenetv2", "Base name of the results.")
RESULTS = flags.DEFINE_string(
    "results_dir",
    os.path.join(os.path.dirname(__file__), "results", "bn_recalibration"),
    "Where the JSON and markdown land.",
)
WORK_DIR = flags.DEFINE_string(
    "work_dir", "/tmp/tf_compact_bench_bn", "Teacher cache and compress runs."
)

PAD = 2  # 28x28 -> 32x32


def _command():
    parts = ["python benchmarks/bench_bn_recalibration.py"]
    for name in (
        "alpha",
        "teacher_epochs",
        "epochs",
        "finetune_epochs",
        "target_macs",
        "target_params",
        "round_to",
        "batch_size",
        "recalibration_batches",
        "limit",
        "seed",
        "arm",
        "name",
    ):
        flag = flags.FLAGS[name]
        if flag.present:
            value = flag.value
            if isinstance(value, list):
                parts += [f"--{name}={v}" for v in value]
                continue
            parts.append(f"--{name}={value}")
    return " ".join(parts)


def _data():
    """Fashion-MNIST through the project's loader, padded to 32x32x3."""
    import tensorflow as tf

    import tf_compact as tfc

    bundle = tfc.data.load(
        "fashion_mnist",
        batch_size=BATCH_SIZE.value,
        limit=LIMIT.value,
        seed=SEED.value,
    )

    def pad(x, y):
        x = tf.pad(x, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]])
        return tf.image.grayscale_to_rgb(x), y

    def prepare(dataset):
        return dataset.map(pad, num_parallel_calls=tf.data.AUTOTUNE)

    return prepare(bundle.train), prepare(bundle.test), bundle.source


def _teacher(train):
    """The cached teacher and its training history, or train and cache."""
    import keras

    name = f"teacher_mnv2_a{ALPHA.value:g}_e{TEACHER_EPOCHS.value}"
    name += f"_b{BATCH_SIZE.value}_s{SEED.value}"
    if LIMIT.value:
        name += f"_n{LIMIT.value}"
    path = os.path.join(WORK_DIR.value, name + ".keras")
    meta_path = os.path.join(WORK_DIR.value, name + ".json")
    if os.path.exists(path) and os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        meta["cached"] = path
        return keras.saving.load_model(path, compile=False), meta
    keras.utils.set_random_seed(SEED.value)
    model = keras.applications.MobileNetV2(
        alpha=ALPHA.value,
        input_shape=(32, 32, 3),
        weights=None,
        classes=10,
        classifier_activation=None,
    )
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.time()
    history = model.fit(train, epochs=TEACHER_EPOCHS.value, verbose=2)
    model.save(path)
    meta = {
        "train_accuracy": [float(a) for a in history.history["accuracy"]],
        "seconds": time.time() - start,
    }
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=2)
    return model, meta


def _copy(model):
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _recalibrated(model, train):
    """A recalibrated copy and the seconds the recalibration took."""
    import tf_compact as tfc

    copy = _copy(model)
    start = time.perf_counter()
    tfc.sparsity.recalibrate_batch_norm(
        copy, train, max_batches=RECAL_BATCHES.value
    )
    return copy, time.perf_counter() - start


def _teacher_rows(teacher, train, test):
    from tf_compact.pipeline import recalibration
    from tf_compact.pipeline.training import accuracy

    check = recalibration.measure_teacher(teacher, test)
    check.pop("_batches")
    fixed, seconds = _recalibrated(teacher, train)
    return fixed, {
        "stale_accuracy": accuracy(teacher, test),
        "recalibrated_accuracy": accuracy(fixed, test),
        "recalibration_seconds": seconds,
        "recalibration_batches": RECAL_BATCHES.value,
        "check": check,
    }


def _arm(name, teacher, train, test, **kwargs):
    import keras

    import tf_compact as tfc
    from tf_compact.pipeline.training import accuracy

    out = os.path.join(WORK_DIR.value, f"{NAME.value}_{name}")
    keras.utils.set_random_seed(SEED.value)
    start = time.time()
    result = tfc.compress(
        teacher,
        train,
        test_data=test,
        method=tfc.methods.OneShot(
            target_macs=TARGET_MACS.value,
            target_params=TARGET_PARAMS.value,
            round_to=ROUND_TO.value,
        ),
        epochs=EPOCHS.value,
        training=tfc.methods.Training(finetune_epochs=FINETUNE.value, **kwargs),
        output_dir=out,
    )
    seconds = time.time() - start
    report = result.report
    done = report.get("bn_recalibration", {})
    final = done.get("finetune") or done.get("slim") or {}
    saved = keras.saving.load_model(
        os.path.join(out, "slim_finetuned.keras"), compile=False
    )
    fresh, fresh_seconds = _recalibrated(saved, train)
    tflite = report.get("tflite", {})
    return {
        "arm": name,
        "output_dir": out,
        "seconds": seconds,
        "teacher_accuracy": report["teacher"].get("accuracy"),
        "teacher_check": report.get("teacher_check"),
        "student": report["student"],
        "reported_accuracy": report["student"].get("accuracy"),
        "float32_accuracy": tflite.get("float32", {}).get("accuracy"),
        "int8_accuracy": tflite.get("int8", {}).get("accuracy"),
        "without_pipeline_recalibration": final.get("accuracy_before"),
        "saved_fresh_recalibration": accuracy(fresh, test),
        "saved_fresh_seconds": fresh_seconds,
        "bn_recalibration": done,
    }


def _without_student_recalibration(teacher, train, test):
    """The `recalibrated_teacher` arm as the pipeline ran before."""
    from tf_compact.pipeline import recalibration

    original = recalibration.recalibrate_student
    recalibration.recalibrate_student = lambda *args, **kwargs: None
    try:
        return _arm("no_student_recalibration", teacher, train, test)
    finally:
        recalibration.recalibrate_student = original


def _pct(value):
    return "–" if value is None else f"{100 * value:.2f}%"


def _markdown(result):
    teacher = result["teacher"]
    lines = [
        "# BN recalibration: MobileNetV2 on Fashion-MNIST 32x32x3",
        "",
        "```shell",
        result["command"],
        "```",
        "",
        f"Data: {result['data']}. Machine: {result['machine']}. Total "
        f"{result['seconds'] / 60:.1f} min.",
        "",
        "## Teacher",
        "",
        "| | accuracy |",
        "|---|---:|",
        "| last training epoch (batch statistics, training mode) | "
        f"{_pct(teacher['train_accuracy'][-1])} |",
        "| inference, moving statistics as trained | "
        f"{_pct(teacher['stale_accuracy'])} |",
        "| check batches with batch statistics | "
        f"{_pct(teacher['check']['batch_stats_accuracy'])} |",
        f"| inference after recalibration ({teacher['recalibration_batches']}"
        f" batches, {teacher['recalibration_seconds']:.1f} s) | "
        f"{_pct(teacher['recalibrated_accuracy'])} |",
        "",
        f"Teacher check: {teacher['check']['message'] or 'no warning'}",
        "",
        "## Student (`tfc.compress`)",
        "",
        "| arm | reported | TFLite float32 | TFLite int8 | without the "
        "pipeline's last recalibration | saved + fresh recalibration | "
        "run min |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for arm in result["arms"]:
        lines.append(
            f"| {arm['arm']} | {_pct(arm['reported_accuracy'])} | "
            f"{_pct(arm['float32_accuracy'])} | "
            f"{_pct(arm['int8_accuracy'])} | "
            f"{_pct(arm['without_pipeline_recalibration'])} | "
            f"{_pct(arm['saved_fresh_recalibration'])} | "
            f"{arm['seconds'] / 60:.1f} |"
        )
    lines += ["", "Recalibrations inside the pipeline:", ""]
    lines += ["| arm | after stage | batches | seconds | before | after |"]
    lines += ["|---|---|---:|---:|---:|---:|"]
    for arm in result["arms"]:
        for stage, entry in arm["bn_recalibration"].items():
            lines.append(
                f"| {arm['arm']} | {stage} | {entry['batches']} | "
                f"{entry['seconds']:.1f} | "
                f"{_pct(entry.get('accuracy_before'))} | "
                f"{_pct(entry.get('accuracy_after'))} |"
            )
    return "\n".join(lines) + "\n"


def _machine():
    import platform

    return f"{platform.processor() or platform.machine()}, " + (
        f"{os.cpu_count()} CPUs"
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    os.makedirs(WORK_DIR.value, exist_ok=True)
    os.makedirs(RESULTS.value, exist_ok=True)
    start = time.time()
    train, test, source = _data()
    teacher, meta = _teacher(train)
    fixed, teacher_row = _teacher_rows(teacher, train, test)
    teacher_row.update(meta)
    arms = []
    for name in ARMS.value:
        if name == "recalibrated_teacher":
            arms.append(_arm(name, fixed, train, test))
        elif name == "no_student_recalibration":
            arms.append(_without_student_recalibration(fixed, train, test))
        else:
            arms.append(
                _arm(name, teacher, train, test, recalibrate_teacher=True)
            )
    result = {
        "command": _command(),
        "data": source,
        "machine": _machine(),
        "teacher": teacher_row,
        "arms": arms,
        "seconds": time.time() - start,
    }
    base = os.path.join(RESULTS.value, NAME.value)
    with open(base + ".json", "w") as f:
        json.dump(result, f, indent=2, default=float)
    text = _markdown(result)
    with open(base + ".md", "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    app.run(main)
