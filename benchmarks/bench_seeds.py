"""Seed ablations: seed 004's recipe on VGG, seed 002's block budgets.

Seed 004 (Chen et al. 2020) on the VGG-style teacher: lighten the teacher
(GAP head instead of Flatten+Dense, depthwise-separable convolutions
initialised from the teacher's kernels) → multi-level transfer (feature KD
at two resolutions + logits KD) → global iterative pruning with the same
KD between rounds → KD fine-tune. Reports accuracy, params, MACs and
1-thread TFLite float32 latency after each step.

Seed 002 (Ahmed et al. 2020) on a small MobileNetV2: KD + proximal group
lasso, the strength steered by `BudgetController` with one budget per
block (`blocks="auto"`: stages of equal resolution plus the head), against
the same with one global budget; threshold slim, KD fine-tune. Reports
accuracy and each block's MACs fraction.

Writes `benchmarks/results/recipes/summary.md` and `recipes/summary.json`.

```shell
python benchmarks/bench_seeds.py --limit=20000
```
"""

import json
import os
import time

import common
from absl import app
from absl import flags

LIMIT = flags.DEFINE_integer("limit", 20000, "Cap on examples (0: all).")
TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", 3, "Teacher epochs.")
KD_EPOCHS = flags.DEFINE_integer("kd_epochs", 2, "Transfer epochs (004).")
PRUNE_EPOCHS = flags.DEFINE_integer("prune_epochs", 2, "Pruning epochs.")
FINETUNE = flags.DEFINE_integer("finetune_epochs", 1, "KD fine-tune epochs.")
VGG_TARGET = flags.DEFINE_float(
    "vgg_prune_macs", 0.5, "004: MACs kept by pruning, of the lightened net."
)
MBV2_WIDTH = flags.DEFINE_float("mbv2_width", 0.35, "MobileNetV2 width.")
MBV2_TARGET = flags.DEFINE_float("mbv2_target_macs", 0.5, "002 MACs target.")
MBV2_STRENGTH = flags.DEFINE_float(
    "mbv2_strength",
    0.05,
    "002: initial sparsity strength (0: the strength at which the penalty "
    "is a tenth of the loss on one batch).",
)
SEEDS = flags.DEFINE_list("seeds", ["004", "002"], "Ablations to run.")
RESULTS = flags.DEFINE_string(
    "results_dir", "benchmarks/results", "Where to write the results."
)
WORK_DIR = flags.DEFINE_string(
    "work_dir", "/tmp/tf_compact_bench_seeds", "Checkpoints of the run."
)
FEATURE_PAIRS = [
    ("block2_relu2", "block2_relu2"),
    ("block3_relu1", "block3_relu1"),
]


def _loss(model):
    import keras

    from tf_compact.pipeline import training

    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=training.outputs_logits(model)
    )


def _metrics():
    import keras

    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def _teacher(name, bundle, **kwargs):
    import keras

    import tf_compact as tfc
    from tf_compact.pipeline import training

    path = os.path.join(WORK_DIR.value, f"teacher_{name}.keras")
    if os.path.exists(path):
        return keras.saving.load_model(path, compile=False)
    keras.utils.set_random_seed(0)
    model = tfc.models.get(
        name,
        input_shape=bundle.input_shape,
        num_classes=bundle.num_classes,
        **kwargs,
    )
    training.fit_classifier(
        model, bundle.train, TEACHER_EPOCHS.value, verbose=2
    )
    model.save(path)
    return model


def _row(step, model, bundle, epochs):
    """Accuracy, MACs, params and TFLite float32 1-thread latency."""
    import tf_compact as tfc
    from tf_compact.pipeline import training

    prof = tfc.profile(model)
    data = tfc.lite.convert(model, mode="float32")
    bench = tfc.lite.benchmark(data, num_threads=1, runs=200)
    row = {
        "step": step,
        "epochs": epochs,
        "accuracy": training.accuracy(model, bundle.test),
        "macs": int(prof.macs),
        "params": int(prof.params),
        "float32_kib": len(data) / 1024,
        "float32_ms": bench.median_ms,
        "runtime": f"{bench.runtime}/{bench.delegate}",
    }
    print(json.dumps(row), flush=True)
    return row


def _kd_losses(multi_level):
    import tf_compact as tfc

    losses = [tfc.LogitsKD(temperature=4.0)]
    if multi_level:
        losses.append(tfc.FeatureKD(pairs=FEATURE_PAIRS))
    return losses


def _distill(teacher, student, bundle, epochs, multi_level):
    import keras

    import tf_compact as tfc

    distiller = tfc.Distiller(teacher, student, _kd_losses(multi_level))
    distiller.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=_loss(student),
        metrics=_metrics(),
    )
    if epochs:
        distiller.fit(bundle.train, epochs=epochs, verbose=2)
    return student


def seed_004(bundle):
    """VGG: lighten → feature + logits KD → iterative pruning → fine-tune."""
    import keras

    import tf_compact as tfc

    teacher = _teacher("vgg", bundle)
    rows = [_row("teacher (VGG, Flatten+Dense head)", teacher, bundle, 0)]
    keras.utils.set_random_seed(1)
    student = tfc.lighten.separable(tfc.lighten.gap_head(teacher))
    rows.append(_row("lightened, before training", student, bundle, 0))
    _distill(teacher, student, bundle, KD_EPOCHS.value, multi_level=True)
    rows.append(
        _row(
            "GAP head + separable, feature + logits KD",
            student,
            bundle,
            KD_EPOCHS.value,
        )
    )
    slim, rounds = tfc.iterative_prune(
        student,
        bundle.train,
        target_macs=VGG_TARGET.value,
        fraction=1.0 - VGG_TARGET.value ** (1.0 / (1.5 * PRUNE_EPOCHS.value)),
        epochs_per_round=1,
        teacher=teacher,
        distillation_losses=_kd_losses(True),
        optimizer=keras.optimizers.Adam(5e-4),
        loss=_loss(student),
        metrics=_metrics(),
        verbose=2,
    )
    rows.append(
        _row(
            f"global iterative pruning ({len(rounds)} rounds, KD)",
            slim,
            bundle,
            len(rounds),
        )
    )
    _distill(teacher, slim, bundle, FINETUNE.value, multi_level=True)
    rows.append(_row("KD fine-tune", slim, bundle, FINETUNE.value))
    return rows


def seed_002(bundle):
    """MobileNetV2: KD + group lasso under per-block vs global budgets."""
    teacher = _teacher(
        "mobilenet_v2", bundle, width_multiplier=MBV2_WIDTH.value
    )
    rows = [_row("teacher (MobileNetV2)", teacher, bundle, 0)]
    blocks_out = {}
    for blocks in ("auto", None):
        row, per_block = _budget_run(teacher, bundle, blocks)
        rows.append(row)
        blocks_out["per-block" if blocks else "global"] = per_block
    return rows, blocks_out


def _budget_run(teacher, bundle, blocks):
    import keras

    import tf_compact as tfc
    from tf_compact.pipeline import training as pipeline_training

    keras.utils.set_random_seed(1)
    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    penalty = tfc.GroupLasso(strength=1e-4, proximal=True)
    penalty.bind(student)
    steps = pipeline_training.steps_per_epoch(bundle.train) or 100
    budget = tfc.callbacks.BudgetController(
        target_macs=MBV2_TARGET.value,
        blocks=blocks,
        update_every=max(1, steps // 8),
    )
    distiller = tfc.Distiller(
        teacher, student, _kd_losses(False), sparsity=penalty
    )
    distiller.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=_loss(student),
        metrics=_metrics(),
    )
    strength = MBV2_STRENGTH.value or _start_strength(student, penalty, bundle)
    penalty.strength.assign(strength)
    distiller.fit(
        bundle.train,
        epochs=PRUNE_EPOCHS.value,
        callbacks=[budget],
        verbose=2,
    )
    slim = tfc.prune(student, threshold=budget.threshold)
    per_block = common.block_fractions(student, slim)
    per_block["threshold"] = budget.threshold
    _distill(teacher, slim, bundle, FINETUNE.value, multi_level=False)
    label = "per-block budgets" if blocks else "one global budget"
    row = _row(
        f"KD + group lasso, {label} ({MBV2_TARGET.value:.0%} MACs) + KD "
        "fine-tune",
        slim,
        bundle,
        PRUNE_EPOCHS.value + FINETUNE.value,
    )
    return row, per_block


def _start_strength(student, penalty, bundle):
    """λ at which the penalty is a tenth of the loss on one batch."""
    import keras

    x, y = next(iter(bundle.train))
    pred = student(x, training=False)
    loss = float(keras.ops.convert_to_numpy(_loss(student)(y, pred)))
    penalty.strength.assign(1.0)
    total = float(keras.ops.convert_to_numpy(penalty(student)))
    return max(0.1 * loss / max(total, 1e-12), 1e-6)


def _table(rows, teacher):
    lines = [
        "| step | epochs | accuracy | MACs | params | float32 KiB | "
        "float32 ms | params ÷ | latency ÷ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['step']} | {r['epochs']} | {100 * r['accuracy']:.2f}% | "
            f"{r['macs'] / 1e6:.2f}M | {r['params'] / 1e3:.1f}K | "
            f"{r['float32_kib']:.1f} | {r['float32_ms']:.3f} | "
            f"{teacher['params'] / r['params']:.1f}x | "
            f"{teacher['float32_ms'] / r['float32_ms']:.1f}x |"
        )
    return lines


def _command():
    names = (
        "limit",
        "teacher_epochs",
        "kd_epochs",
        "prune_epochs",
        "finetune_epochs",
        "vgg_prune_macs",
        "mbv2_width",
        "mbv2_target_macs",
        "mbv2_strength",
    )
    parts = ["python benchmarks/bench_seeds.py"]
    parts += [
        f"--{n}={flags.FLAGS[n].value}" for n in names if flags.FLAGS[n].present
    ]
    return " ".join(parts)


def _markdown(results, seconds):
    lines = [
        "# Seed ablations (bench_seeds.py)",
        "",
        f"Command: `{_command()}`",
        "",
        f"Fashion-MNIST (Debian package files, first {LIMIT.value or 'all'}"
        " training and test examples), 1-thread TFLite float32 latency. "
        f"Wall time {seconds / 60:.1f} min.",
    ]
    if "004" in results:
        rows = results["004"]
        lines += [
            "",
            "## Seed 004: lighten → multi-level KD → iterative pruning (VGG)",
            "",
        ]
        lines += _table(rows, rows[0])
    if "002" in results:
        rows = results["002"]["rows"]
        lines += [
            "",
            "## Seed 002: block budgets (MobileNetV2 "
            f"x{MBV2_WIDTH.value:g}, 28x28)",
            "",
        ]
        lines += _table(rows, rows[0])
        lines += [
            "",
            "MACs fraction of each block after slimming "
            f"(target {MBV2_TARGET.value:.0%} each):",
            "",
        ]
        for label, blocks in results["002"]["blocks"].items():
            blocks = dict(blocks)
            threshold = blocks.pop("threshold", None)
            text = ", ".join(f"{k} {v:.1%}" for k, v in blocks.items())
            if threshold is not None:
                text += f" (prune threshold {threshold:.3g})"
            lines.append(f"- {label}: {text}")
    return "\n".join(lines + [""])


def main(argv):
    del argv
    import tf_compact as tfc

    os.makedirs(WORK_DIR.value, exist_ok=True)
    os.makedirs(os.path.join(RESULTS.value, "recipes"), exist_ok=True)
    start = time.time()
    bundle = tfc.data.load(
        "fashion_mnist", batch_size=128, limit=LIMIT.value or None
    )
    results = _previous(SEEDS.value)
    if "004" in SEEDS.value:
        results["004"] = seed_004(bundle)
        _write(results, start)
    if "002" in SEEDS.value:
        rows, blocks = seed_002(bundle)
        results["002"] = {"rows": rows, "blocks": blocks}
        _write(results, start)


def _previous(rerun):
    """Results of the seeds not rerun, kept from the last results file."""
    path = os.path.join(RESULTS.value, "recipes/summary.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        previous = json.load(f)
    return {k: v for k, v in previous.items() if k not in rerun}


def _write(results, start):
    text = _markdown(results, time.time() - start)
    with open(os.path.join(RESULTS.value, "recipes/summary.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(RESULTS.value, "recipes/summary.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    app.run(main)
