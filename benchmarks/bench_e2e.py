"""tf_compact against what users would pick instead, on full Fashion-MNIST.

One teacher (`small_cnn` by default, `--teacher=vgg` for a larger one),
the same student epoch budget for every arm, targets of 25% of the
teacher's MACs and 10% of its parameters (pruned until both are met):

1. tf_compact: `tfc.compress` with its default method (`method="auto"`)
   and the budget split of `--allocation` (`global`, `tfc.compress`'s
   default, unless given; the README's VGG headline uses `sensitivity`);
2. one-shot L1 filter pruning to the same target + plain fine-tune;
3. tensorflow-model-optimization magnitude pruning (polynomial schedule)
   to the parameter count of arm 1 (stripped, converted; MACs unchanged);
4. the slim architecture of arm 1 trained from scratch;
5. `keras.distillation` KD into that slim architecture.

Two pitfalls of the baselines, handled here: in Keras 3.15
`keras.distillation.LogitsDistillation()` resolves its default
`loss="kl_divergence"` to the plain function, which skips the softmax and
compares clipped raw logits (the student then does not learn), so a
`keras.losses.KLDivergence()` instance is passed; and
`keras.distillation.Distiller` sets `teacher.trainable = False` on the model
it is given, which froze every later use of the same teacher object, so
each arm gets its own copy of the teacher.

Every arm trains on its own freshly seeded copy of the data (`--seed`
plus the arm's number), so an arm's result does not depend on which arms
ran before it, or on whether tf_compact's run resumed from its
checkpoints.

Each arm reports accuracy, MACs, params, TFLite float32/int8 size and
1-thread latency (LiteRT when available). Writes
`benchmarks/results/<name>.md`, `<name>.json` (with the machine, commit and
command) and `<name>_tradeoff.png` (`--name`, default `e2e/latest`).

```shell
python benchmarks/bench_e2e.py --epochs=4 --teacher_epochs=4
# the README's headline: VGG teacher, Flatten head kept, sensitivity
# allocation, all five arms
python benchmarks/bench_e2e.py --epochs=4 --finetune_epochs=0 \
    --teacher=vgg --teacher_epochs=4 --round_to=8 --learning_rate=0.005 \
    --allocation=sensitivity --seed=0 --name=e2e/vgg/sensitivity_all_arms/seed0
# the README's table: VGG teacher, GAP head, widths rounded to 8
python benchmarks/bench_e2e.py --epochs=4 --finetune_epochs=0 \
    --teacher=vgg --teacher_epochs=4 --lighten=gap_head --round_to=8 \
    --learning_rate=0.005 --seed=0 --name=e2e/vgg/gap_head_all_arms/seed0
# tf_compact alone with the teacher's Flatten head kept, another seed
python benchmarks/bench_e2e.py --epochs=4 --finetune_epochs=0 \
    --teacher=vgg --teacher_epochs=4 --round_to=8 --learning_rate=0.005 \
    --latency_repeats=1 --arm=none --seed=1 --name=e2e/vgg/flatten_head/seed1
```
"""

import hashlib
import json
import os
import time

import common
from absl import app
from absl import flags

EPOCHS = flags.DEFINE_integer("epochs", 4, "Student epochs per arm.")
FINETUNE = flags.DEFINE_integer(
    "finetune_epochs", 1, "Of the epochs, tf_compact's KD fine-tune."
)
TEACHER = flags.DEFINE_string("teacher", "small_cnn", "Teacher architecture.")
TEACHER_WIDTH = flags.DEFINE_float("teacher_width", 1.0, "Teacher width.")
TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", 4, "Teacher epochs.")
TARGET_MACS = flags.DEFINE_float("target_macs", 0.25, "MACs target.")
TARGET_PARAMS = flags.DEFINE_float("target_params", 0.10, "Params target.")
METHOD = flags.DEFINE_string("method", "auto", "tf_compact's method.")
LIMIT = flags.DEFINE_integer("limit", None, "Cap on examples (quick runs).")
RESULTS = flags.DEFINE_string(
    "results_dir", "benchmarks/results", "Where to write the results."
)
NAME = flags.DEFINE_string(
    "name",
    "e2e/latest",
    "Result files' path under --results_dir, without extension "
    "(e.g. e2e/vgg/sensitivity/seed0).",
)
WORK_DIR = flags.DEFINE_string(
    "work_dir", "/tmp/tf_compact_bench_e2e", "Checkpoints of the run."
)
ARMS = flags.DEFINE_multi_enum(
    "arm",
    ["l1", "scratch", "keras_kd", "tfmot"],
    ["l1", "scratch", "keras_kd", "tfmot", "none"],
    "Baseline arms to run (repeatable); tf_compact's arm always runs, the "
    "others are compared with it ('none': tf_compact alone). The full "
    "benchmark runs all four.",
)
IMPORTANCE = flags.DEFINE_enum(
    "importance",
    "l2",
    ["l2", "l1", "bn_gamma", "taylor"],
    "tf_compact's one-shot pruning criterion.",
)
STUDENT_WEIGHT = flags.DEFINE_float(
    "student_loss_weight",
    0.9,
    "Weight of the label loss in the KD of tf_compact and keras.distillation "
    "(the distillation term gets 1 minus it).",
    lower_bound=0.0,
    upper_bound=1.0,
)
TEMPERATURE = flags.DEFINE_float(
    "temperature",
    4.0,
    "Logits-KD temperature of tf_compact and keras.distillation.",
    lower_bound=1e-3,
)
SEED = flags.DEFINE_integer(
    "seed",
    0,
    "Seed of the data split and order and of the students' training (the "
    "teacher always trains on seed 0's data and is cached, so runs with "
    "other seeds are replicates of the arms on the same teacher).",
)
LIGHTEN = flags.DEFINE_list(
    "lighten", [], "tf_compact's lighten transforms (gap_head, separable)."
)
ROUND_TO = flags.DEFINE_integer(
    "round_to", None, "Round pruned widths to a multiple of this (arms 1, 2)."
)
WIDTHS = flags.DEFINE_list(
    "widths",
    [],
    "tf_compact: hand-chosen student widths, name=count pairs (one-shot "
    "pruning to them instead of the budget search; the targets are still "
    "checked). The other arms keep their own allocation.",
)
ALLOCATION = flags.DEFINE_enum(
    "allocation",
    "global",
    ["global", "sensitivity"],
    "tf_compact: how one-shot pruning splits the budget among the channel "
    "groups (tfc.methods.OneShot(allocation=...)). The L1 arm always keeps the "
    "global ranking.",
)
FEATURE_KD = flags.DEFINE_boolean(
    "feature_kd", False, "tf_compact: feature KD on top of logits KD."
)
STANDARDIZE = flags.DEFINE_boolean(
    "standardize_logits",
    False,
    "tf_compact: standardize each example's logits in its logits KD, at "
    "--standardized_temperature instead of --temperature (which the "
    "keras.distillation arm keeps).",
)
STANDARDIZED_T = flags.DEFINE_float(
    "standardized_temperature",
    2.0,
    "tf_compact's logits-KD temperature with --standardize_logits.",
    lower_bound=1e-3,
)
LATENCY_REPEATS = flags.DEFINE_integer(
    "latency_repeats",
    3,
    "Interleaved re-timings of every arm's TFLite files at the end; each "
    "file keeps its best median (0: keep the first timing only).",
)
LATENCY_RUNS = flags.DEFINE_integer(
    "latency_runs",
    1000,
    "Invokes per latency timing (each timing reports their median).",
    lower_bound=10,
)
LEARNING_RATE = flags.DEFINE_float(
    "learning_rate",
    5e-3,
    "Peak Adam learning rate of every arm's training (fine-tunes of a "
    "pruned model, tf_compact's KD fine-tune and the L1 arm, use half of "
    "it). The teacher always trains at 1e-3.",
)
SCHEDULE = flags.DEFINE_enum(
    "schedule",
    "cosine",
    ["cosine", "constant"],
    "Learning-rate schedule of every training run (teacher and all arms).",
)


def _rate(lr, bundle, epochs, module=None):
    """`lr`, or a cosine decay of it over `epochs` with `--schedule=cosine`."""
    return common.rate(lr, bundle, epochs, SCHEDULE.value, module)


def _fit(model, bundle, epochs, lr=1e-3):
    return common.fit(model, bundle, epochs, lr, SCHEDULE.value)


#: TFLite bytes of every measured arm, `{(arm, mode): bytes}`.
_FILES = {}


def _measure(name, model, bundle, tflite_source=None, params=None):
    """Accuracy, MACs, params, TFLite sizes and latencies of one arm."""
    import tf_compact as tfc
    from tf_compact.pipeline import training

    source = tflite_source if tflite_source is not None else model
    row = {
        "arm": name,
        "accuracy": training.accuracy(model, bundle.test),
        "macs": int(tfc.profile(model).macs) if tflite_source is None else None,
        "params": params if params is not None else int(model.count_params()),
    }
    for mode in ("float32", "int8"):
        kwargs = {}
        if mode == "int8":
            kwargs = {
                "representative_data": bundle.train,
                "num_calibration_steps": 50,
            }
        data = tfc.lite.convert(source, mode=mode, **kwargs)
        bench = tfc.lite.benchmark(
            data, num_threads=1, runs=LATENCY_RUNS.value, dataset=bundle.test
        )
        row[f"{mode}_kib"] = len(data) / 1024
        row[f"{mode}_ms"] = bench.median_ms
        row[f"{mode}_accuracy"] = bench.accuracy
        row["runtime"] = f"{bench.runtime}/{bench.delegate}"
        _FILES[(name, mode)] = bytes(data)
    print(json.dumps(row), flush=True)
    return row


def _retime(rows):
    """Times every arm's TFLite files again, interleaved; keeps the best.

    One timing per file, taken minutes apart under whatever else the
    machine runs, makes latency ratios noisy; interleaving the files over
    `--latency_repeats` rounds and keeping each file's lowest median puts
    every arm under the same conditions.
    """
    import tf_compact as tfc

    for repeat in range(LATENCY_REPEATS.value):
        # Every other round runs backwards, so a drift in the machine's
        # speed does not always favour the same rows.
        for row in rows if repeat % 2 else rows[::-1]:
            for mode in ("float32", "int8"):
                data = _FILES.get((row["arm"], mode))
                if data is None:
                    continue
                ms = tfc.lite.benchmark(
                    data, num_threads=1, runs=LATENCY_RUNS.value
                ).median_ms
                key = f"{mode}_ms"
                row[key] = min(row[key], ms)
        print(f"latency re-timing {repeat + 1}/{LATENCY_REPEATS.value}")


def _teacher_name():
    return f"{TEACHER.value}_w{TEACHER_WIDTH.value:g}"


def _teacher(teacher_data):
    """The cached teacher, or one trained on `teacher_data()` and cached.

    `teacher_data` builds the teacher's own dataset (seed 0 whatever
    `--seed` is), so the teacher a run trains does not depend on the seed
    of the run that happened to train it first.
    """
    import keras

    import tf_compact as tfc

    name = f"{_teacher_name()}_e{TEACHER_EPOCHS.value}_{SCHEDULE.value}"
    if LIMIT.value:
        name += f"_n{LIMIT.value}"
    path = os.path.join(WORK_DIR.value, f"teacher_{name}.keras")
    if os.path.exists(path):
        return keras.saving.load_model(path, compile=False)
    bundle = teacher_data()
    keras.utils.set_random_seed(0)
    model = tfc.models.get(
        TEACHER.value,
        input_shape=bundle.input_shape,
        num_classes=bundle.num_classes,
        width_multiplier=TEACHER_WIDTH.value,
    )
    _fit(model, bundle, TEACHER_EPOCHS.value)
    model.save(path)
    return model


def _run_key():
    """A short key of this run's settings, so checkpoints never mix."""

    return hashlib.sha1(_command().encode()).hexdigest()[:10]


def _copy(model):
    """A trainable copy with the same weights (arms never share a model)."""
    return common.copy_model(model)


def _targets():
    return {
        "target_macs": TARGET_MACS.value or None,
        "target_params": TARGET_PARAMS.value or None,
    }


def arm_tf_compact(teacher, bundle):
    import tf_compact as tfc
    from tf_compact.cli.compress_settings import build_method
    from tf_compact.pruning.validation import parse_widths

    options = dict(
        _targets(),
        round_to=ROUND_TO.value,
        widths=parse_widths(WIDTHS.value),
        allocation=ALLOCATION.value,
        importance=IMPORTANCE.value,
    )
    result = tfc.compress(
        _copy(teacher),
        bundle,
        # Each method takes the settings it uses; the targets stay as given.
        method=build_method(METHOD.value, options, given=("target_macs",)),
        training=tfc.methods.Training(
            lighten=tuple(LIGHTEN.value),
            lr_schedule=SCHEDULE.value,
            learning_rate=LEARNING_RATE.value,
            student_loss_weight=STUDENT_WEIGHT.value,
            temperature=(
                STANDARDIZED_T.value if STANDARDIZE.value else TEMPERATURE.value
            ),
            feature_kd=FEATURE_KD.value,
            standardize_logits=STANDARDIZE.value,
            finetune_epochs=FINETUNE.value,
        ),
        export=tfc.methods.Export(benchmark_runs=20),
        epochs=EPOCHS.value - FINETUNE.value,
        output_dir=os.path.join(WORK_DIR.value, f"tf_compact_{_run_key()}"),
        verbose=1,
    )
    settings = result.report.get("settings", {})
    print(json.dumps({"compress_settings": settings}))
    return result.slim_model, settings.get("method", METHOD.value)


def arm_l1_prune(teacher, bundle):
    return common.arm_l1_prune(
        teacher,
        bundle,
        EPOCHS.value,
        LEARNING_RATE.value / 2,
        _targets(),
        round_to=ROUND_TO.value,
        schedule=SCHEDULE.value,
    )


def arm_scratch(slim, bundle):
    return common.arm_scratch(
        slim, bundle, EPOCHS.value, LEARNING_RATE.value, SCHEDULE.value
    )


def arm_keras_kd(teacher, slim, bundle):
    return common.arm_keras_kd(
        teacher,
        slim,
        bundle,
        EPOCHS.value,
        LEARNING_RATE.value,
        temperature=TEMPERATURE.value,
        student_loss_weight=STUDENT_WEIGHT.value,
        schedule=SCHEDULE.value,
    )


def arm_tfmot(teacher, bundle, sparsity):
    """Magnitude pruning through the tf_keras bridge; returns (model, nnz)."""
    return common.arm_tfmot(
        teacher,
        bundle,
        sparsity,
        EPOCHS.value,
        LEARNING_RATE.value,
        SCHEDULE.value,
    )


def _tfmot_row(stripped, nnz, bundle, teacher_macs):
    import numpy as np

    import tf_compact as tfc

    x, y = bundle.arrays()[2:]
    pred = np.argmax(stripped.predict(x, verbose=0), axis=-1)
    row = {
        "arm": "tfmot magnitude pruning",
        "accuracy": float(np.mean(pred == y)),
        "macs": teacher_macs,
        "params": nnz,
    }
    for mode in ("float32", "int8"):
        kwargs = {}
        if mode == "int8":
            kwargs = {
                "representative_data": bundle.train,
                "num_calibration_steps": 50,
            }
        data = tfc.lite.convert(stripped, mode=mode, **kwargs)
        bench = tfc.lite.benchmark(data, num_threads=1, runs=LATENCY_RUNS.value)
        row[f"{mode}_kib"] = len(data) / 1024
        row[f"{mode}_ms"] = bench.median_ms
        row["runtime"] = f"{bench.runtime}/{bench.delegate}"
        _FILES[(row["arm"], mode)] = bytes(data)
    print(json.dumps(row), flush=True)
    return row


def _markdown(rows, teacher_row, seconds):
    head = (
        "| arm | accuracy | MACs | params | float32 KiB | int8 KiB | "
        "float32 ms | int8 ms |"
    )
    lines = [
        "# End-to-end benchmark (bench_e2e.py)",
        "",
        f"Command: `{_command()}`",
        "",
        "Fashion-MNIST (Debian package files"
        + (f", first {LIMIT.value} examples" if LIMIT.value else ", full")
        + f"), {_teacher_name()} teacher ({TEACHER_EPOCHS.value} epochs), "
        f"{EPOCHS.value} student epochs per arm, targets MACs <= "
        f"{TARGET_MACS.value:.0%} and params <= {TARGET_PARAMS.value:.0%} "
        f"of the teacher, tf_compact method `{METHOD.value}`"
        + (f" with lighten {','.join(LIGHTEN.value)}" if LIGHTEN.value else "")
        + (
            f", pruned widths rounded to {ROUND_TO.value}"
            if ROUND_TO.value
            else ""
        )
        + (
            f", tf_compact's widths set by hand ({','.join(WIDTHS.value)})"
            if WIDTHS.value
            else ""
        )
        + (
            f", tf_compact's widths allocated by {ALLOCATION.value}"
            if ALLOCATION.value != "global"
            else ""
        )
        + f", {SCHEDULE.value} learning rate in every training run (peak "
        f"{LEARNING_RATE.value:g} for the arms), 1-thread "
        f"latency (median of {LATENCY_RUNS.value} invokes"
        + (
            f", best of {LATENCY_REPEATS.value + 1} interleaved timings"
            if LATENCY_REPEATS.value
            else ""
        )
        + f"), runtime {teacher_row.get('runtime')}. Wall time "
        f"{seconds / 60:.1f} min.",
        "",
        head,
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [teacher_row] + rows:
        macs = "–" if r["macs"] is None else f"{r['macs'] / 1e6:.2f}M"
        lines.append(
            f"| {r['arm']} | {100 * r['accuracy']:.2f}% | {macs} | "
            f"{r['params'] / 1e3:.1f}K | {r['float32_kib']:.1f} | "
            f"{r['int8_kib']:.1f} | {r['float32_ms']:.3f} | "
            f"{r['int8_ms']:.3f} |"
        )
    lines += [
        "",
        _goals(rows, teacher_row),
        "",
        f"![]({os.path.basename(NAME.value)}_tradeoff.png)",
        "",
    ]
    return "\n".join(lines)


def _command():
    names = (
        "epochs",
        "finetune_epochs",
        "teacher",
        "teacher_width",
        "teacher_epochs",
        "target_macs",
        "target_params",
        "method",
        "lighten",
        "round_to",
        "widths",
        "allocation",
        "schedule",
        "learning_rate",
        "student_loss_weight",
        "temperature",
        "standardize_logits",
        "standardized_temperature",
        "importance",
        "feature_kd",
        "latency_repeats",
        "latency_runs",
        "arm",
        "seed",
        "limit",
        "name",
    )
    return common.command("benchmarks/bench_e2e.py", names)


def _goals(rows, teacher_row):
    ours = rows[0]
    drop = 100 * (teacher_row["accuracy"] - ours["accuracy"])
    ahead = (
        "yes"
        if all(ours["accuracy"] > r["accuracy"] for r in rows[1:])
        else "no"
    )
    if len(rows) == 1:
        ahead = "no baseline run"
    macs_red = teacher_row["macs"] / ours["macs"]
    params_frac = ours["params"] / teacher_row["params"]
    speed = teacher_row["float32_ms"] / ours["float32_ms"]
    return (
        f"Targets: MACs {1 / macs_red:.1%} of the teacher (target "
        f"{TARGET_MACS.value:.0%}), params {params_frac:.1%} (target "
        f"{TARGET_PARAMS.value:.0%}). "
        f"Goals: accuracy within 0.3 pp of the teacher: "
        f"{'met' if drop <= 0.3 else 'missed'} "
        f"({-drop:+.2f} pp against the teacher); "
        f"ahead of every baseline: {ahead}; latency "
        f"speed-up {speed:.2f}x for a MACs reduction of {macs_red:.2f}x "
        f"(ratio {speed / macs_red:.2f}, goal >= 0.85: "
        f"{'met' if speed / macs_red >= 0.85 else 'missed'})."
    )


def main(argv):
    del argv
    os.makedirs(WORK_DIR.value, exist_ok=True)
    os.makedirs(RESULTS.value, exist_ok=True)

    from tf_compact.pipeline import plots

    start = time.time()

    def fresh_data(offset, seed=None):
        # Each arm gets its own seeded dataset: a shuffled tf.data dataset
        # reshuffles on every pass, so a shared one would hand each arm a
        # data order that depends on how many epochs the arms before it
        # ran (a resumed or skipped arm would change all later ones).
        seed = SEED.value if seed is None else seed
        return common.seeded_data(seed, offset, LIMIT.value)

    bundle = fresh_data(0)
    teacher = _teacher(lambda: fresh_data(0, seed=0))
    teacher_row = _measure("teacher", teacher, bundle)
    rows = []
    # Fresh again: the teacher's int8 calibration drew from the last one.
    bundle = fresh_data(0)
    slim, method = arm_tf_compact(teacher, bundle)
    label = f"tf_compact ({METHOD.value}: {method})"
    if METHOD.value == method:
        label = f"tf_compact ({method})"
    rows.append(_measure(label, slim, bundle))
    arms = set(ARMS.value)
    if "l1" in arms:
        bundle = fresh_data(1)
        rows.append(
            _measure(
                "one-shot L1 prune + fine-tune",
                arm_l1_prune(teacher, bundle),
                bundle,
            )
        )
    if "scratch" in arms:
        bundle = fresh_data(2)
        rows.append(
            _measure(
                "slim architecture from scratch",
                arm_scratch(slim, bundle),
                bundle,
            )
        )
    if "keras_kd" in arms:
        bundle = fresh_data(3)
        rows.append(
            _measure(
                "keras.distillation KD into slim",
                arm_keras_kd(teacher, slim, bundle),
                bundle,
            )
        )
    if "tfmot" in arms:
        bundle = fresh_data(4)
        sparsity, _ = common.tfmot_sparsity(teacher, slim.count_params())
        stripped, nnz = arm_tfmot(teacher, bundle, sparsity)
        rows.append(_tfmot_row(stripped, nnz, bundle, teacher_row["macs"]))
    _retime([teacher_row] + rows)
    seconds = time.time() - start
    common.write_json(
        common.result_path(RESULTS.value, NAME.value, ".json"),
        {"teacher": teacher_row, "arms": rows},
    )
    points = [
        {"name": r["arm"], "macs": r["macs"], "accuracy": r["accuracy"]}
        for r in [teacher_row] + rows
    ]
    plot = common.result_path(RESULTS.value, NAME.value, "_tradeoff.png")
    plots.tradeoff(plot, points)
    text = _markdown(rows, teacher_row, seconds)
    path = common.result_path(RESULTS.value, NAME.value, ".md")
    common.write_text(path, text)
    print(text)


if __name__ == "__main__":
    app.run(main)
