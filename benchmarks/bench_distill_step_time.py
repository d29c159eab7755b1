"""Step time of tf_compact.Distiller against its parts and keras.distillation.

Measures, on the same batch and in one process (arms interleaved, median of
several rounds):

- student train step alone, and teacher forward pass alone;
- `tfc.Distiller` train step with `LogitsKD`, and with `LogitsKD` +
  `FeatureKD` (intermediate features of both models, 1x1 adapters);
- `keras.distillation.Distiller` train step with `LogitsDistillation`, the
  identical work to the `LogitsKD` arm.

The goal is `Distiller / (student step + teacher forward) <= 1.05`.

Usage:

    python benchmarks/bench_distill_step_time.py --batch_size=128
"""

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import tf_compact as tfc  # noqa: E402

BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size.")
STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per arm per round.")
ROUNDS = flags.DEFINE_integer("rounds", 5, "Interleaved rounds.")
WIDTH = flags.DEFINE_float("width", 0.5, "Student width multiplier.")
JIT = flags.DEFINE_bool("jit_compile", False, "Compile train steps with XLA.")
OUT = flags.DEFINE_string(
    "out",
    "benchmarks/results/distillation/step_time.md",
    "Markdown table path.",
)

BASE_WIDTHS = (32, 64, 128)


def vgg(width, name):
    """Three conv stages on 28x28x1 (VGG-style), GAP and a dense head."""
    widths = [max(2, round(w * width)) for w in BASE_WIDTHS]
    inputs = keras.Input((28, 28, 1))
    x = inputs
    for s, ch in enumerate(widths):
        for c in range(2 if s < 2 else 1):
            x = keras.layers.Conv2D(
                ch, 3, padding="same", use_bias=False, name=f"s{s}_conv{c}"
            )(x)
            x = keras.layers.BatchNormalization(name=f"s{s}_bn{c}")(x)
            x = keras.layers.ReLU(name=f"s{s}_relu{c}")(x)
        if s < 2:
            x = keras.layers.MaxPooling2D(name=f"s{s}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name=name)


def _ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _compiled(model):
    model.compile(
        keras.optimizers.Adam(1e-3), loss=_ce(), jit_compile=JIT.value
    )
    return model


def _arms(teacher, x, y):
    """Returns name -> zero-argument callable running one step."""
    student = _compiled(vgg(WIDTH.value, "student"))
    distill_logits = _compiled(
        tfc.Distiller(teacher, vgg(WIDTH.value, "s1"), [tfc.LogitsKD()])
    )
    distill_features = _compiled(
        tfc.Distiller(
            teacher,
            vgg(WIDTH.value, "s2"),
            [tfc.LogitsKD(), tfc.FeatureKD()],
        )
    )
    keras_kd = _compiled(
        keras.distillation.Distiller(
            teacher,
            vgg(WIDTH.value, "s3"),
            keras.distillation.LogitsDistillation(temperature=4.0),
        )
    )
    forward = tf.function(
        lambda batch: teacher(batch, training=False), jit_compile=JIT.value
    )
    x_tensor = tf.constant(x)
    return {
        "student_step": lambda: student.train_on_batch(x, y),
        "teacher_forward": lambda: forward(x_tensor).numpy(),
        "tfc_logits_kd": lambda: distill_logits.train_on_batch(x, y),
        "tfc_logits_feature_kd": lambda: distill_features.train_on_batch(x, y),
        "keras_logits_distillation": lambda: keras_kd.train_on_batch(x, y),
    }


def _time(step, n):
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n * 1e3


def measure(arms):
    """Returns name -> median milliseconds per step over interleaved rounds."""
    for step in arms.values():
        for _ in range(3):
            step()
    samples = {name: [] for name in arms}
    for _ in range(ROUNDS.value):
        for name, step in arms.items():
            samples[name].append(_time(step, STEPS.value))
    return {name: statistics.median(v) for name, v in samples.items()}


def _report(ms, command):
    parts = ms["student_step"] + ms["teacher_forward"]
    lines = [
        "# Distiller step time",
        "",
        f"Command: `{command}`",
        "",
        f"Teacher: VGG-style CNN {BASE_WIDTHS} on 28x28x1; student width "
        f"{WIDTH.value}; batch {BATCH.value}; jit_compile={JIT.value}; "
        f"median of {ROUNDS.value} interleaved rounds of {STEPS.value} steps "
        "(`train_on_batch`; teacher forward: a `tf.function` returning "
        "numpy), CPU, "
        f"{os.cpu_count()} cores.",
        "",
        "| arm | ms/step | ratio to student step + teacher forward |",
        "|---|---|---|",
    ]
    for name, value in ms.items():
        lines.append(f"| {name} | {value:.1f} | {value / parts:.3f} |")
    ratio = ms["tfc_logits_kd"] / parts
    vs_keras = ms["tfc_logits_kd"] / ms["keras_logits_distillation"]
    lines += [
        "",
        f"Goal `tfc_logits_kd / (student_step + teacher_forward) <= 1.05`: "
        f"measured {ratio:.3f}. Against keras.distillation.Distiller on the "
        f"same work: {vs_keras:.3f}x its step time.",
    ]
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH.value, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, BATCH.value)
    teacher = vgg(1.0, "teacher")
    ms = measure(_arms(teacher, x, y))
    flag_text = " ".join(
        f"--{f.name}={f.value}" for f in (BATCH, STEPS, ROUNDS, WIDTH, JIT)
    )
    command = f"python benchmarks/bench_distill_step_time.py {flag_text}"
    report = _report(ms, command)
    print(report)
    os.makedirs(os.path.dirname(OUT.value) or ".", exist_ok=True)
    with open(OUT.value, "w") as f:
        f.write(report)


if __name__ == "__main__":
    app.run(main)
