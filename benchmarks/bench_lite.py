"""int8 size and accuracy on Fashion-MNIST: PTQ vs QAT vs KD-QAT.

Trains `tfc.models.small_cnn` on the full Fashion-MNIST training set, then
measures through the LiteRT interpreter, on the full test set:

- the float TFLite model,
- post-training full-int8 quantization (PTQ),
- quantization-aware training through the tfmot bridge (QAT),
- distillation-aware QAT, the float model teaching the quantized one,

and a comparison table of the teacher and a half-width slimmed student
(`tfc.slim`, fine-tuned), in float and int8.

Usage:
    python benchmarks/bench_lite.py --epochs=5 \
        --output=benchmarks/results/lite/summary.md
"""

import gzip
import os
import time

from absl import app
from absl import flags
from absl import logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tf_compact as tfc  # noqa: E402

DATA_DIR = flags.DEFINE_string(
    "data_dir",
    "/usr/share/datasets/fashion-mnist",
    "Folder with the four Fashion-MNIST IDX .gz files.",
)
EPOCHS = flags.DEFINE_integer("epochs", 5, "Teacher training epochs.")
QAT_EPOCHS = flags.DEFINE_integer("qat_epochs", 1, "QAT fine-tune epochs.")
SLIM_EPOCHS = flags.DEFINE_integer(
    "slim_epochs", 1, "Fine-tune epochs of the slimmed student."
)
CALIBRATION = flags.DEFINE_integer(
    "calibration", 500, "PTQ calibration examples."
)
OUTPUT = flags.DEFINE_string("output", None, "Markdown file to write.")


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    ]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _load(split):
    prefix = "train" if split == "train" else "t10k"
    base = os.path.join(DATA_DIR.value, prefix)
    x = _read_idx(base + "-images-idx3-ubyte.gz")
    y = _read_idx(base + "-labels-idx1-ubyte.gz")
    return (x[..., None] / 255.0).astype(np.float32), y.astype(np.int32)


def _train(model, x, y, epochs, lr=1e-3):
    model.compile(
        keras.optimizers.Adam(lr),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=2)
    return model


def _slim_half(model):
    graph = tfc.ChannelGraph(model)
    masks = {
        g.name: np.arange(g.size) < (g.size + 1) // 2 for g in graph.groups
    }
    return tfc.slim(model, masks, graph=graph)


def _timed(label, fn):
    start = time.perf_counter()
    value = fn()
    logging.info("%s took %.1f s", label, time.perf_counter() - start)
    return value, time.perf_counter() - start


def _quantization_table(rows, float_acc, float_size):
    lines = [
        "| model | accuracy | loss vs float (pp) | size KiB "
        "| size / float | time s |",
        "|---|---|---|---|---|---|",
    ]
    for name, acc, size, seconds in rows:
        lines.append(
            f"| {name} | {100 * acc:.2f}% | "
            f"{100 * (float_acc - acc):+.2f} | {size / 1024:.1f} | "
            f"{size / float_size:.3f} | {seconds:.0f} |"
        )
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    keras.utils.set_random_seed(0)
    x_train, y_train = _load("train")
    x_test, y_test = _load("test")
    test = (x_test, y_test)
    teacher = _train(tfc.models.small_cnn(), x_train, y_train, EPOCHS.value)
    calib = x_train[: CALIBRATION.value]

    def bench(tflite, name):
        return tfc.lite.benchmark(tflite, runs=200, dataset=test, name=name)

    float_tfl = tfc.lite.convert(teacher)
    ptq, t_ptq = _timed(
        "PTQ",
        lambda: tfc.lite.convert(
            teacher,
            "int8",
            calib,
            num_calibration_steps=CALIBRATION.value,
            inference_io="int8",
        ),
    )
    train = (x_train, y_train)
    qat, t_qat = _timed(
        "QAT",
        lambda: tfc.lite.qat(
            teacher, train, epochs=QAT_EPOCHS.value, batch_size=128
        ),
    )
    kd_qat, t_kd = _timed(
        "KD-QAT",
        lambda: tfc.lite.qat(
            teacher,
            train,
            epochs=QAT_EPOCHS.value,
            batch_size=128,
            teacher=teacher,
        ),
    )
    tuned = keras.models.clone_model(teacher)
    tuned.set_weights(teacher.get_weights())
    tuned = _train(tuned, x_train, y_train, QAT_EPOCHS.value, lr=1e-4)
    tuned_ptq = tfc.lite.convert(
        tuned,
        "int8",
        calib,
        num_calibration_steps=CALIBRATION.value,
        inference_io="int8",
    )
    results = {
        "teacher float": bench(float_tfl, "teacher float"),
        "teacher int8 PTQ": bench(ptq, "teacher int8 PTQ"),
        "tuned float": bench(tfc.lite.convert(tuned), "tuned float"),
        "tuned int8 PTQ": bench(tuned_ptq, "tuned int8 PTQ"),
        "teacher int8 QAT": bench(qat, "teacher int8 QAT"),
        "teacher int8 KD-QAT": bench(kd_qat, "teacher int8 KD-QAT"),
    }
    slim = _train(_slim_half(teacher), x_train, y_train, SLIM_EPOCHS.value)
    slim_int8 = tfc.lite.convert(
        slim,
        "int8",
        calib,
        num_calibration_steps=CALIBRATION.value,
        inference_io="int8",
    )
    results["slim float"] = bench(tfc.lite.convert(slim), "slim float")
    results["slim int8 PTQ"] = bench(slim_int8, "slim int8 PTQ")
    _write(
        results,
        float_tfl,
        (ptq, tuned_ptq, qat, kd_qat),
        (t_ptq, t_ptq, t_qat, t_kd),
    )


def _write(results, float_tfl, int8_models, seconds):
    float_acc = results["teacher float"].accuracy
    rows = [("teacher float", float_acc, len(float_tfl), 0.0)]
    tuned = results["tuned float"]
    rows.append(("tuned float", tuned.accuracy, tuned.size_bytes, 0.0))
    names = (
        "teacher int8 PTQ",
        "tuned int8 PTQ",
        "teacher int8 QAT",
        "teacher int8 KD-QAT",
    )
    for name, tflite, secs in zip(names, int8_models, seconds):
        rows.append((name, results[name].accuracy, len(tflite), secs))
    flags_used = " ".join(
        f"--{f.name}={f.value}"
        for f in (EPOCHS, QAT_EPOCHS, SLIM_EPOCHS, CALIBRATION)
    )
    report = tfc.lite.edgetpu_report(int8_models[0])
    text = "\n".join(
        [
            "# int8 on Fashion-MNIST: PTQ vs QAT vs KD-QAT",
            "",
            f"Command: `python benchmarks/bench_lite.py {flags_used}`",
            "",
            "Model: `tfc.models.small_cnn` trained on the 60k training "
            "images; accuracy is measured through the LiteRT interpreter "
            "on the 10k test images. Goals: int8 size / float size <= "
            "0.26, int8 accuracy loss <= 0.3 pp. The `time s` column is "
            "the conversion (PTQ) or fine-tuning plus conversion (QAT). "
            "QAT and KD-QAT fine-tune the teacher for "
            f"{QAT_EPOCHS.value} epoch(s) at learning rate 1e-4; `tuned` is "
            "the float teacher fine-tuned for the same epochs at the same "
            "rate, the fair float baseline for them.",
            "",
            _quantization_table(rows, float_acc, len(float_tfl)),
            "",
            "## Teacher and half-width slimmed student (`tfc.slim`, first "
            "half of every channel group kept, fine-tuned), 1 thread",
            "",
            tfc.lite.compare(list(results.values())),
            "",
            f"Edge TPU check of the PTQ model: compatible="
            f"{report.compatible}, full_int8={report.full_int8}, "
            f"CPU fallback={report.cpu_fallback}.",
            "",
        ]
    )
    print(text)
    if OUTPUT.value:
        os.makedirs(os.path.dirname(OUTPUT.value) or ".", exist_ok=True)
        with open(OUTPUT.value, "w") as f:
            f.write(text)


if __name__ == "__main__":
    app.run(main)
