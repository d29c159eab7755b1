"""Which `tfc.compress` method gives the best accuracy at a MACs target.

Trains one teacher, then runs `tfc.compress` with each method under the
same epoch budget (sparse/KD epochs + fine-tune epochs) and the same MACs
target, and prints accuracy, MACs and params of each slim model. Quick
runs use `--limit`; the result decides `method="auto"`.

```shell
python benchmarks/bench_e2e_methods.py --limit=10000 --epochs=2 \\
    --finetune_epochs=1
# the VGG teacher of bench_e2e.py, lightened as there
python benchmarks/bench_e2e_methods.py --limit=20000 --epochs=2 \\
    --finetune_epochs=1 --target_params=0.1 --lighten=gap_head \\
    --round_to=8 --teacher_path=<work_dir>/teacher_vgg_w1_e4_cosine.keras \\
    --methods=oneshot,oneshot+feature_kd,iterative,budget
```
"""

import json
import os
import sys
import time

from absl import app
from absl import flags

DATASET = flags.DEFINE_string("dataset", "fashion_mnist", "Dataset name.")
MODEL = flags.DEFINE_string("model", "small_cnn", "Teacher architecture.")
EPOCHS = flags.DEFINE_integer("epochs", 2, "Sparse / KD epochs per method.")
FINETUNE = flags.DEFINE_integer("finetune_epochs", 1, "KD fine-tune epochs.")
TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", 3, "Teacher epochs.")
TARGET_MACS = flags.DEFINE_float("target_macs", 0.25, "MACs target.")
TARGET_PARAMS = flags.DEFINE_float(
    "target_params", None, "Params target (with the MACs target)."
)
LIMIT = flags.DEFINE_integer("limit", None, "Cap on examples (quick runs).")
METHODS = flags.DEFINE_list(
    "methods",
    ["oneshot", "gradual", "iterative", "budget", "width"],
    "Methods to run; `<method>+feature_kd` adds feature KD.",
)
TEACHER_PATH = flags.DEFINE_string(
    "teacher_path",
    None,
    "A trained .keras teacher to use instead of training one (e.g. the "
    "teacher bench_e2e.py cached in its --work_dir).",
)
LIGHTEN = flags.DEFINE_list(
    "lighten", [], "Lighten transforms of every method (gap_head, separable)."
)
ROUND_TO = flags.DEFINE_integer(
    "round_to", None, "round_to of the oneshot methods (widths multiple of)."
)
SEED = flags.DEFINE_integer("seed", 1, "Random seed of every method's run.")
TEMPERATURE = flags.DEFINE_float(
    "temperature", None, "KD temperature (unset: tfc.compress's)."
)
LEARNING_RATE = flags.DEFINE_float(
    "learning_rate",
    None,
    "Peak learning rate of every training stage (unset: tfc.compress's).",
)
STUDENT_WEIGHT = flags.DEFINE_float(
    "student_loss_weight",
    None,
    "Weight of the label loss in KD (unset: tfc.compress's).",
)
IMPORTANCE = flags.DEFINE_enum(
    "importance",
    None,
    ["l2", "l1", "bn_gamma", "taylor"],
    "One-shot pruning criterion (unset: tfc.compress's).",
)
WORK_DIR = flags.DEFINE_string(
    "work_dir", "/tmp/tf_compact_bench_methods", "Checkpoints of the run."
)


def _teacher(bundle):
    import keras

    import tf_compact as tfc
    from tf_compact.pipeline import training

    if TEACHER_PATH.value:
        return keras.saving.load_model(TEACHER_PATH.value, compile=False)
    path = os.path.join(WORK_DIR.value, f"teacher_{MODEL.value}.keras")
    if os.path.exists(path):
        return keras.saving.load_model(path, compile=False)
    keras.utils.set_random_seed(0)
    model = tfc.models.get(
        MODEL.value,
        input_shape=bundle.input_shape,
        num_classes=bundle.num_classes,
    )
    training.fit_classifier(
        model, bundle.train, TEACHER_EPOCHS.value, verbose=2
    )
    model.save(path)
    return model


def _run(method, teacher, bundle):
    import keras

    import tf_compact as tfc

    keras.utils.set_random_seed(SEED.value)
    label = method
    method, _, option = method.partition("+")
    if option not in ("", "feature_kd"):
        raise ValueError(
            f"Unknown method option {option!r} in {label!r}: only "
            "'+feature_kd' is known."
        )
    from tf_compact.cli.compress_settings import build_method

    training = {"feature_kd": option == "feature_kd"}
    for name, flag in (
        ("learning_rate", LEARNING_RATE),
        ("temperature", TEMPERATURE),
        ("student_loss_weight", STUDENT_WEIGHT),
    ):
        if flag.value is not None:
            training[name] = flag.value
    if LIGHTEN.value:
        training["lighten"] = tuple(LIGHTEN.value)
    options = {"importance": IMPORTANCE.value}
    if ROUND_TO.value and method == "oneshot":
        options["round_to"] = ROUND_TO.value
    if method == "width":
        options["width_multiplier"] = TARGET_MACS.value**0.5
    else:
        options["target_macs"] = TARGET_MACS.value
        options["target_params"] = TARGET_PARAMS.value
    start = time.time()
    result = tfc.compress(
        teacher,
        bundle,
        # Each method takes the settings it uses; the targets stay as given.
        method=build_method(method, options, given=("target_macs",)),
        epochs=EPOCHS.value,
        training=tfc.methods.Training(
            finetune_epochs=FINETUNE.value, **training
        ),
        export=tfc.methods.Export(tflite_modes=("float32",), benchmark_runs=20),
        output_dir=os.path.join(WORK_DIR.value, label.replace("+", "_")),
        resume=False,
        verbose=1,
    )
    report = result.report
    return {
        "method": label,
        "accuracy": report["student"]["accuracy"],
        "macs_fraction": report["student"]["macs"] / report["teacher"]["macs"],
        "params_fraction": (
            report["student"]["params"] / report["teacher"]["params"]
        ),
        "float32_speedup": report.get("latency_speedup", {}).get("float32"),
        "seconds": round(time.time() - start, 1),
    }


def _times(value):
    return "–" if value is None else f"{value:.2f}x"


def main(argv):
    del argv
    argv_ = [a for a in sys.argv[1:] if a.startswith("--")]
    import tf_compact as tfc
    from tf_compact.pipeline import training

    os.makedirs(WORK_DIR.value, exist_ok=True)
    bundle = tfc.data.load(
        DATASET.value, batch_size=128, limit=LIMIT.value, validation_split=0.05
    )
    teacher = _teacher(bundle)
    print(json.dumps({"teacher": training.accuracy(teacher, bundle.test)}))
    rows = []
    for method in METHODS.value:
        rows.append(_run(method, teacher, bundle))
        print(json.dumps(rows[-1]), flush=True)
    command = " ".join(["python benchmarks/bench_e2e_methods.py"] + argv_)
    print(f"\nCommand: `{command}`")
    print(
        "\n| method | accuracy | MACs | params | float32 speed-up | seconds |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['method']} | {100 * r['accuracy']:.2f}% | "
            f"{r['macs_fraction']:.1%} | {r['params_fraction']:.1%} | "
            f"{_times(r['float32_speedup'])} | {r['seconds']} |"
        )


if __name__ == "__main__":
    app.run(main)
