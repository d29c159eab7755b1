r"""`tf-compact compress`: the whole pipeline from the command line.

With no flags it is the README's main job: it trains (or reloads) a
`small_cnn` teacher on the built-in Fashion-MNIST subset, prunes a copy to a
quarter of its MACs (global L2 channel pruning) and trains it with
distillation, converts it to TFLite float32 and int8, times both, and
prints the before/after table. Everything lands in `--output_dir`;
rerunning resumes.

```shell
tf-compact compress
tf-compact compress --dataset=fashion_mnist --model=vgg \
    --lighten=gap_head --target_macs=0.25 --epochs=10
python examples/compress.py --method=controller --output_dir=run2
tf-compact compress --target_latency=1.5 --round_to=8
```

The method flags map onto a `tfc.methods` object: with the default
target, `--method=oneshot --round_to=8` runs
`tfc.methods.OneShot(target_macs=0.25, round_to=8)`. A flag the chosen
method does not use is refused.
"""

from absl import app
from absl import flags
from absl import logging

from tf_compact.cli import app_flags
from tf_compact.cli import closing
from tf_compact.cli import common_flags
from tf_compact.cli import compress_run
from tf_compact.cli import compress_settings
from tf_compact.cli import interrupts
from tf_compact.cli import model_data
from tf_compact.cli import teacher as teacher_lib
from tf_compact.methods.registry import METHODS
from tf_compact.pruning.validation import parse_widths

DEFAULT_EPOCHS = 6
VALIDATION_SPLIT = 0.1
#: The defaults `--help` shows for flags left unset here.
HELP_DEFAULTS = {"epochs": DEFAULT_EPOCHS, **compress_settings.API_DEFAULTS}
METHOD = flags.DEFINE_enum(
    "method",
    "auto",
    list(METHODS),
    "Compression method: `iterative` prunes the globally weakest channels "
    "round by round to --target_macs / --target_params with distillation "
    "between rounds; `budget` steers group sparsity to the target; "
    "`controller` sets it from the teacher/student gap; `oneshot` prunes to "
    "the target then distills; `gradual` distills while the channels shrink "
    "to the target on a cubic schedule; `width` distills into the teacher at "
    "--width_multiplier. `auto`: oneshot with a target, else controller.",
)


TARGET_MACS = flags.DEFINE(
    compress_settings.TargetParser("target_macs"),
    "target_macs",
    "0.25",
    "MACs budget: a fraction of the teacher's in (0, 1] (0.25) or an "
    "absolute count (40000, 1.2M). Pass --target_macs=0 for none.",
    serializer=flags.ArgumentSerializer(),
)
TARGET_PARAMS = flags.DEFINE(
    compress_settings.TargetParser("target_params"),
    "target_params",
    None,
    "Parameter budget: a fraction of the teacher's in (0, 1] or an "
    "absolute count (40000, 1.2M).",
    serializer=flags.ArgumentSerializer(),
)
TARGET_LATENCY = flags.DEFINE_float(
    "target_latency",
    None,
    "Latency budget in milliseconds of the float32 TFLite student at batch "
    "1 (one thread), measured on this machine's interpreter; "
    "--method=oneshot (or auto) only. Alone it is the whole budget (the "
    "default --target_macs is dropped); give --target_macs or "
    "--target_params as well to meet those too.",
)
LATENCY_TABLE = flags.DEFINE_string(
    "latency_table",
    None,
    "With --target_latency: times taken on the target device with "
    "benchmark_model (the folder of its logs, one per probe that "
    "tf_compact.pruning.export_probes writes, or a CSV/JSON summary), used "
    "instead of timings on this machine.",
)
DISTRIBUTION_STRATEGY = flags.DEFINE(
    compress_settings.StrategyParser(),
    "distribution_strategy",
    "none",
    "tf.distribute strategy the training runs under: none, mirrored (the "
    "local GPUs, or the CPU) or multi_worker (workers from TF_CONFIG).",
    serializer=flags.ArgumentSerializer(),
)
LIGHTEN = flags.DEFINE_multi_enum(
    "lighten",
    [],
    ["gap_head", "separable"],
    "Lighten transforms applied to the student first (repeatable).",
)
WIDTH_MULTIPLIER = flags.DEFINE_float(
    "width_multiplier",
    None,
    "Channel fraction of the student for --method=width.",
)
TEACHER_PATH = flags.DEFINE_string(
    "teacher_path",
    None,
    "A trained teacher `.keras` file, used as it is. Default: "
    "<output_dir>/teacher.keras, trained first when missing or with "
    "--noresume; one trained with other settings is refused.",
)
TEACHER_EPOCHS = flags.DEFINE_integer(
    "teacher_epochs",
    None,
    "Epochs when the teacher must be trained. Default: the student's "
    "total, --epochs plus --finetune_epochs, so that the before/after "
    "accuracies compare equal training budgets.",
    lower_bound=1,
)
FINETUNE_EPOCHS = flags.DEFINE_integer(
    "finetune_epochs", 3, "KD fine-tune epochs after slimming.", lower_bound=0
)
STRENGTH = flags.DEFINE_float(
    "strength",
    None,
    "Initial group-lasso strength. Default: derived from the loss scale.",
    lower_bound=0.0,
)
ROUND_TO = flags.DEFINE_integer(
    "round_to",
    None,
    "Round pruned widths up to a multiple of this: 8 or 16 suit XNNPACK's "
    "channel tiles and speed up the TFLite model.",
    lower_bound=1,
)
WIDTHS = flags.DEFINE_list(
    "widths",
    [],
    "Hand-chosen student widths for one-shot pruning, name=count pairs "
    "(a layer or channel group and its kept channels), e.g. "
    "--widths=block2_conv1=32,fc1=72; the named groups keep their "
    "strongest channels, the others all theirs. Targets are then only "
    "checked (--target_macs applies only when given explicitly).",
)
ALLOCATION = flags.DEFINE_enum(
    "allocation",
    None,
    ["global", "sensitivity"],
    "How one-shot pruning splits the budget among the channel groups: one "
    "global ranking, or a sensitivity table measured on 8 training batches; "
    "unset: tfc.compress's default.",
)
LR_SCHEDULE = flags.DEFINE_enum(
    "lr_schedule",
    "cosine",
    ["cosine", "constant"],
    "Learning rate of the KD stages: cosine decay to 0, or constant.",
)
KD_LEARNING_RATE = flags.DEFINE_float(
    "kd_learning_rate",
    None,
    "Peak Adam learning rate of the KD stages (the KD fine-tune uses half); "
    "unset: tfc.compress's default.",
    lower_bound=0.0,
)
TEMPERATURE = flags.DEFINE_float(
    "temperature",
    None,
    "Softening temperature of the logits KD; unset: tfc.compress's default.",
    lower_bound=0.0,
)
STUDENT_LOSS_WEIGHT = flags.DEFINE_float(
    "student_loss_weight",
    None,
    "Weight of the label cross-entropy in the KD loss (the distillation "
    "terms get 1 minus it); unset: tfc.compress's default.",
    lower_bound=0.0,
    upper_bound=1.0,
)
IMPORTANCE = flags.DEFINE_enum(
    "importance",
    None,
    ["l2", "l1", "bn_gamma", "taylor"],
    "Channel criterion of one-shot pruning; unset: tfc.compress's default.",
)
FEATURE_KD = flags.DEFINE_boolean(
    "feature_kd",
    False,
    "Add multi-level feature distillation to the logits KD.",
)
STANDARDIZE_LOGITS = flags.DEFINE_boolean(
    "standardize_logits",
    None,
    "Standardize each example's logits before the logits KD (then "
    "--temperature=2 suits it); unset: tfc.compress's default.",
)
RESUME = flags.DEFINE_boolean(
    "resume",
    True,
    "Resume a run found in --output_dir, with its teacher; --noresume "
    "starts over and trains the teacher again.",
)
RECALIBRATE_TEACHER = flags.DEFINE_boolean(
    "recalibrate_teacher",
    False,
    "Recalibrate the BN statistics of a copy of the teacher on training "
    "batches before it teaches (the teacher file is not changed). Without "
    "it, a teacher whose BN statistics are stale is only reported.",
)
TFLITE_MODES = flags.DEFINE_multi_enum(
    "tflite_mode",
    ["float32", "int8"],
    ["float32", "float16", "dynamic", "int8"],
    "TFLite conversion modes of the compressed model (repeatable).",
)


def _student_epochs():
    """The student's `(KD epochs, fine-tune epochs)` from the flags."""
    return common_flags.epochs_or(DEFAULT_EPOCHS), FINETUNE_EPOCHS.value


def _teacher_epochs():
    """--teacher_epochs, else the student's total epochs (at least 1)."""
    if TEACHER_EPOCHS.value is not None:
        return TEACHER_EPOCHS.value
    return max(1, sum(_student_epochs()))


def _teacher(bundle, strategy):
    if TEACHER_PATH.value:
        model = common_flags.load_keras_model(
            "teacher_path", TEACHER_PATH.value
        )
        flag = f"--teacher_path={TEACHER_PATH.value}"
        dataset = common_flags.DATASET.value
        model_data.check_teacher_fits(flag, model, bundle, dataset)
        return model
    return teacher_lib.load_or_train_teacher(
        bundle,
        common_flags.MODEL.value,
        _teacher_epochs(),
        common_flags.OUTPUT_DIR.value,
        resume=RESUME.value,
        data_settings=common_flags.data_settings(VALIDATION_SPLIT),
        strategy=strategy,
    )


def _target(flag):
    return compress_settings.parse_target_flag(flag.name, flag.value)


@interrupts.exits_on_interrupt(
    lambda: closing.interrupted(common_flags.OUTPUT_DIR.value, RESUME.value)
)
def main(argv):
    """Runs `tfc.compress` as the flags describe and prints the table.

    Raises:
        app.UsageError: on positional arguments, a malformed --widths, a
            method flag the method refuses, an --output_dir that cannot be
            written or holds a teacher or a run made with other settings
            (unless --noresume).
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    output_dir = common_flags.OUTPUT_DIR.value
    common_flags.check_writable("output_dir", output_dir, folder=True)
    common_flags.check_file("teacher_path", TEACHER_PATH.value)
    common_flags.import_modules()
    try:
        method = _method()
        training = _training()
        export = compress_settings.build_export(
            TFLITE_MODES.value,
            common_flags.EDGETPU.value,
            **app_flags.app_metadata_settings(),
        )
        # Before any other TensorFlow work: MultiWorkerMirroredStrategy
        # sets up its collective ops only at the start of the process.
        strategy = compress_settings.build_strategy(DISTRIBUTION_STRATEGY.value)
    except (ValueError, RuntimeError) as err:
        raise app.UsageError(str(err)) from err
    import keras

    keras.utils.set_random_seed(common_flags.SEED.value)
    bundle = common_flags.load_data(validation_split=VALIDATION_SPLIT)
    logging.info("Data: %s", bundle.source)
    compress_run.run_compress(
        _teacher(bundle, strategy),
        bundle,
        output_dir,
        method=method,
        epochs=_student_epochs()[0],
        training=training,
        export=export,
        resume=RESUME.value,
        strategy=strategy,
    )
    # The teacher's epochs: unknown for a --teacher_path model.
    saved = None if TEACHER_PATH.value else teacher_lib.saved_epochs(output_dir)
    lines = closing.closing_lines(output_dir, saved, _student_epochs())
    print("\n" + "\n".join(lines))


def _method():
    """The `tfc.methods` object of the method flags."""
    options = {
        "target_macs": _target(TARGET_MACS),
        "target_params": _target(TARGET_PARAMS),
        "target_latency": TARGET_LATENCY.value,
        "latency_table": LATENCY_TABLE.value,
        "widths": parse_widths(WIDTHS.value) or None,
        "allocation": ALLOCATION.value,
        "importance": IMPORTANCE.value,
        "round_to": ROUND_TO.value,
        "strength": STRENGTH.value,
        "width_multiplier": WIDTH_MULTIPLIER.value,
    }
    given = {name for name in options if flags.FLAGS[name].present}
    return compress_settings.build_method(METHOD.value, options, given)


def _training():
    """The `tfc.methods.Training` of the training flags."""
    return compress_settings.build_training(
        {
            "finetune_epochs": _student_epochs()[1],
            "learning_rate": KD_LEARNING_RATE.value,
            "lr_schedule": LR_SCHEDULE.value,
            "temperature": TEMPERATURE.value,
            "student_loss_weight": STUDENT_LOSS_WEIGHT.value,
            "feature_kd": FEATURE_KD.value,
            "standardize_logits": STANDARDIZE_LOGITS.value,
            "lighten": tuple(LIGHTEN.value),
            "recalibrate_teacher": RECALIBRATE_TEACHER.value,
        }
    )


if __name__ == "__main__":
    app.run(main)
