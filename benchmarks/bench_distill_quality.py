"""Distillation quality on full Fashion-MNIST: every loss family, one table.

A VGG-style teacher is trained once (and cached); then students of the same
structure at a fraction of its width are trained for the same number of
epochs from the same initialization: from scratch, with
`keras.distillation.Distiller` (logits KD), and with each tf_compact loss
family alone and combined. Test accuracy goes to a markdown table.

Usage:

    python benchmarks/bench_distill_quality.py --epochs=3 --width=0.25
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

import tf_compact as tfc  # noqa: E402
from tf_compact import data as tfc_data  # noqa: E402

EPOCHS = flags.DEFINE_integer("epochs", 3, "Epochs of every student arm.")
TEACHER_EPOCHS = flags.DEFINE_integer(
    "teacher_epochs", 3, "Epochs of the teacher (trained once, cached)."
)
WIDTH = flags.DEFINE_float("width", 0.25, "Student width multiplier.")
BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size.")
LIMIT = flags.DEFINE_integer(
    "limit", None, "Use at most this many train/test examples (smoke runs)."
)
ARMS = flags.DEFINE_list("arms", None, "Subset of arms to run (default all).")
REPEATS = flags.DEFINE_integer(
    "repeats", 1, "Runs per arm, student seeds 1..repeats (mean and spread)."
)
CACHE = flags.DEFINE_string(
    "cache_dir", "/tmp/tf_compact_bench", "Where the teacher is cached."
)
OUT = flags.DEFINE_string(
    "out", "benchmarks/results/distillation/quality.md", "Markdown table path."
)

BASE_WIDTHS = (32, 64, 128)


def vgg(width, name):
    """Three conv stages (two at 28x28 and 14x14, one at 7x7), GAP, dense."""
    widths = [max(2, round(w * width)) for w in BASE_WIDTHS]
    inputs = keras.Input((28, 28, 1), name="image")
    x = inputs
    for s, ch in enumerate(widths):
        convs = 2 if s < 2 else 1
        for c in range(convs):
            x = keras.layers.Conv2D(
                ch, 3, padding="same", use_bias=False, name=f"s{s}_conv{c}"
            )(x)
            x = keras.layers.BatchNormalization(name=f"s{s}_bn{c}")(x)
            relu_name = f"s{s}_out" if c == convs - 1 else f"s{s}_relu{c}"
            x = keras.layers.ReLU(name=relu_name)(x)
        if s < 2:
            x = keras.layers.MaxPooling2D(name=f"s{s}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="embedding")(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _teacher(bundle):
    path = os.path.join(
        CACHE.value,
        f"distill_teacher_e{TEACHER_EPOCHS.value}_l{LIMIT.value}.keras",
    )
    if os.path.exists(path):
        logging.info("Reusing the cached teacher %s", path)
        return keras.models.load_model(path), None
    keras.utils.set_random_seed(0)
    teacher = vgg(1.0, "teacher")
    teacher.compile("adam", _ce(), metrics=["accuracy"])
    start = time.perf_counter()
    teacher.fit(bundle.train, epochs=TEACHER_EPOCHS.value, verbose=2)
    seconds = (time.perf_counter() - start) / TEACHER_EPOCHS.value
    os.makedirs(CACHE.value, exist_ok=True)
    teacher.save(path)
    return teacher, seconds


def _student(seed):
    keras.utils.set_random_seed(seed)
    return vgg(WIDTH.value, "student")


def _distill(teacher, student, losses, weights=None):
    return tfc.Distiller(
        teacher,
        student,
        losses,
        distillation_loss_weights=weights,
        student_loss_weight=0.5,
    )


def _arms():
    """Name -> (description, factory(teacher, student) -> trainable model)."""
    return {
        "scratch": ("student alone, cross-entropy", lambda t, s: s),
        "keras_kd": (
            "keras.distillation.Distiller + LogitsDistillation(T=4)",
            lambda t, s: keras.distillation.Distiller(
                t,
                s,
                keras.distillation.LogitsDistillation(temperature=4.0),
                student_loss_weight=0.5,
            ),
        ),
        "keras_kd_kl": (
            "keras.distillation.Distiller + LogitsDistillation(T=4, "
            "loss=keras.losses.KLDivergence())",
            lambda t, s: keras.distillation.Distiller(
                t,
                s,
                keras.distillation.LogitsDistillation(
                    temperature=4.0, loss=keras.losses.KLDivergence()
                ),
                student_loss_weight=0.5,
            ),
        ),
        "logits_kd": (
            "tfc.LogitsKD(T=4)",
            lambda t, s: _distill(t, s, [tfc.LogitsKD(4.0)]),
        ),
        "feature_kd": (
            "tfc.FeatureKD() (auto pairs, 1x1 adapters)",
            lambda t, s: _distill(t, s, [tfc.FeatureKD()]),
        ),
        "attention": (
            "tfc.AttentionTransfer() (auto pairs)",
            lambda t, s: _distill(t, s, [tfc.AttentionTransfer()]),
        ),
        "contrastive": (
            "tfc.ContrastiveKD(embedding, memory 4096)",
            lambda t, s: _distill(
                t,
                s,
                [tfc.ContrastiveKD("embedding", "embedding", memory_size=4096)],
            ),
        ),
        "combined": (
            "LogitsKD + FeatureKD + AttentionTransfer + ContrastiveKD",
            lambda t, s: _distill(
                t,
                s,
                [
                    tfc.LogitsKD(4.0),
                    tfc.FeatureKD(),
                    tfc.AttentionTransfer(),
                    tfc.ContrastiveKD(
                        "embedding", "embedding", memory_size=4096
                    ),
                ],
                weights=[1.0, 1.0, 1.0, 0.5],
            ),
        ),
    }


def _accuracy(model, bundle):
    model.compile(metrics=["accuracy"], loss=_ce())
    return model.evaluate(bundle.test, verbose=0, return_dict=True)["accuracy"]


def _run_arm(factory, teacher, bundle, seed):
    student = _student(seed)
    model = factory(teacher, student)
    model.compile(keras.optimizers.Adam(1e-3), loss=_ce(), metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(bundle.train, epochs=EPOCHS.value, verbose=2)
    seconds = (time.perf_counter() - start) / EPOCHS.value
    return _accuracy(student, bundle), seconds, student.count_params()


def _table(rows, teacher_row, command, source):
    lines = [
        "# Distillation quality on Fashion-MNIST",
        "",
        f"Command: `{command}`",
        "",
        f"Data: {source}. Teacher: VGG-style CNN {BASE_WIDTHS}, "
        f"{TEACHER_EPOCHS.value} epochs. Students: same structure at width "
        f"{WIDTH.value}, {EPOCHS.value} epochs each, Adam 1e-3, batch "
        f"{BATCH.value}, student_loss_weight 0.5; {REPEATS.value} run(s) per "
        "arm, run i of every arm starts from the same student initialization "
        "(seed i). Test accuracy: mean over runs, then each run.",
        "",
        "| arm | losses | test accuracy | runs | params | s/epoch |",
        "|---|---|---|---|---|---|",
    ]
    name, acc, params, sec = teacher_row
    sec_text = "cached" if sec is None else f"{sec:.0f}"
    lines.append(
        f"| {name} | cross-entropy | {acc:.4f} | 1 | {params} | {sec_text} |"
    )
    for name, desc, accs, sec, params in rows:
        mean = sum(accs) / len(accs)
        runs = ", ".join(f"{a:.4f}" for a in accs)
        lines.append(
            f"| {name} | {desc} | {mean:.4f} | {runs} | {params} | {sec:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    bundle = tfc_data.fashion_mnist(
        batch_size=BATCH.value, source="debian", limit=LIMIT.value
    )
    teacher, t_sec = _teacher(bundle)
    teacher_row = (
        "teacher",
        _accuracy(teacher, bundle),
        teacher.count_params(),
        t_sec,
    )
    print(f"teacher: test accuracy {teacher_row[1]:.4f}", flush=True)
    rows = []
    for name, (desc, factory) in _arms().items():
        if ARMS.value and name not in ARMS.value:
            continue
        accs = []
        for seed in range(1, REPEATS.value + 1):
            acc, sec, params = _run_arm(factory, teacher, bundle, seed)
            accs.append(acc)
            print(f"{name} (seed {seed}): test accuracy {acc:.4f}", flush=True)
        rows.append((name, desc, accs, sec, params))
    flag_text = " ".join(
        f"--{f.name}={f.value}"
        for f in (EPOCHS, TEACHER_EPOCHS, WIDTH, BATCH, LIMIT, REPEATS)
        if f.value is not None
    )
    command = f"python benchmarks/bench_distill_quality.py {flag_text}"
    table = _table(rows, teacher_row, command, bundle.source)
    print(table)
    os.makedirs(os.path.dirname(OUT.value) or ".", exist_ok=True)
    with open(OUT.value, "w") as f:
        f.write(table)


if __name__ == "__main__":
    app.run(main)
