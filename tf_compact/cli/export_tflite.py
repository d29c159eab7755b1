r"""`tf-compact export-tflite`: convert a saved Keras model to TFLite.

```shell
tf-compact export-tflite --model_path=tf_compact_out/slim_finetuned.keras \
    --mode=int8 --output=model_int8.tflite
tf-compact export-tflite --model_path=tf_compact_out/slim_finetuned.keras \
    --mode=int8 --edgetpu --output=model_edgetpu_ready.tflite
```

`--edgetpu` converts for a Coral Edge TPU (`target="edgetpu"`: batch 1,
static shapes, uint8 I/O unless --inference_io says int8), prints its Edge
TPU report, and runs `edgetpu_compiler` when it is on the PATH.

For Android, the file carries a signature (`--signature_key`, input and
output names of your choice) and LiteRT metadata: the labels and the
input normalization (`--labels`, `--normalization`; `auto` takes them from
the dataset named by `--dataset`, and writes nothing without it).

```shell
tf-compact export-tflite --model_path=run/slim_finetuned.keras \
    --mode=float32 --labels=labels.txt --normalization=127.5,127.5 \
    --input_names=image --output_names=scores
```
"""

import functools

from absl import app
from absl import flags

from tf_compact.cli import app_flags
from tf_compact.cli import common_flags
from tf_compact.cli import interrupts
from tf_compact.cli import model_data
from tf_compact.data import stored_values

MODEL_PATH = flags.DEFINE_string(
    "model_path", None, "The `.keras` model to convert (required)."
)
MODE = flags.DEFINE_enum(
    "mode",
    "int8",
    ["float32", "float16", "dynamic", "int8"],
    "Conversion mode; int8 calibrates on the --dataset training images.",
)
INFERENCE_IO = flags.DEFINE_enum(
    "inference_io",
    "float32",
    ["float32", "int8", "uint8"],
    "Input/output dtype (integer I/O only with --mode=int8).",
)
OUTPUT = flags.DEFINE_string(
    "output", None, "The `.tflite` file to write. Default: next to the model."
)
SIGNATURE_KEY = flags.DEFINE_string(
    "signature_key",
    "serving_default",
    "Key of the model's signature (the one an Android app runs).",
)
INPUT_NAMES = flags.DEFINE_list(
    "input_names",
    None,
    "Names of the signature's inputs, in the Keras model's input order.",
)
OUTPUT_NAMES = flags.DEFINE_list(
    "output_names",
    None,
    "Names of the signature's outputs, in the Keras model's output order.",
)
CALIBRATION_STEPS = flags.DEFINE_integer(
    "calibration_steps", 50, "Calibration batches for int8.", lower_bound=1
)


def output_path(model_path, mode):
    """The default `.tflite` path: the model path with the mode appended."""
    stem = (
        model_path[: -len(".keras")]
        if model_path.endswith(".keras")
        else (model_path)
    )
    return f"{stem}_{mode}.tflite"


def _data(model):
    """The --dataset bundle as `model` takes it (see `model_data`).

    Raises:
        app.UsageError: for a dataset that cannot be loaded, or whose
            images do not fit the model's input.
    """
    bundle = common_flags.load_data()
    inputs = stored_values.keras_inputs(model)
    flag = f"--model_path={MODEL_PATH.value}"
    model_data.check_input_shape(
        flag, inputs, bundle, common_flags.DATASET.value
    )
    return stored_values.stored_values_for(bundle, model)


def _check_names(model):
    """Raises `app.UsageError` when --input_names or --output_names do not
    give one name per model input or output."""
    for flag, tensors in (
        (INPUT_NAMES, model.inputs),
        (OUTPUT_NAMES, model.outputs),
    ):
        count, names = len(tensors), flag.value
        if names and len(names) != count:
            what = flag.name.split("_")[0] + ("s" if count != 1 else "")
            raise app.UsageError(
                f"--{flag.name}={','.join(names)}: the model has {count} "
                f"{what}, so give {count} comma-separated name"
                f"{'s' if count != 1 else ''}, in the Keras model's order."
            )


def _signature_and_metadata(model, data):
    """`tfc.lite.convert` arguments of the signature and metadata flags.

    Args:
        model: the Keras model.
        data: a function of no argument returning the --dataset bundle.

    Raises:
        app.UsageError: for a bad --labels or --normalization, or labels
            that do not match the model's output.
    """
    from tf_compact import methods
    from tf_compact.cli.compress_run import usage_error
    from tf_compact.pipeline.android import app_metadata

    try:
        settings = app_flags.app_metadata_settings()
        if not common_flags.DATASET.present:
            # `auto` reads the dataset only when one is named: the default
            # one may not be the model's.
            settings = {
                k: None if v == "auto" else v for k, v in settings.items()
            }
        export = methods.Export(**settings)
        auto = "auto" in (export.labels, export.normalization)
        data = data() if auto else None
        kwargs = app_metadata(export, data, model)
    except ValueError as err:
        raise (usage_error(err) or app.UsageError(str(err))) from err
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    kwargs["signature_key"] = SIGNATURE_KEY.value
    if INPUT_NAMES.value:
        kwargs["input_names"] = INPUT_NAMES.value
    if OUTPUT_NAMES.value:
        kwargs["output_names"] = OUTPUT_NAMES.value
    return kwargs


@interrupts.exits_on_interrupt(
    lambda: "Interrupted; rerun the same command to convert the model."
)
def main(argv):
    """Converts the model and prints the size and conversion checks.

    Raises:
        app.UsageError: on positional arguments, a missing --model_path,
            --edgetpu or an integer --inference_io without --mode=int8,
            an --output that cannot be written, names that do not match
            the model's inputs or outputs, or a --dataset the model cannot
            take.
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not MODEL_PATH.value:
        raise app.UsageError("--model_path is required.")
    if common_flags.EDGETPU.value and MODE.value != "int8":
        raise app.UsageError("--edgetpu needs --mode=int8.")
    if INFERENCE_IO.value != "float32" and MODE.value != "int8":
        raise app.UsageError(
            f"--inference_io={INFERENCE_IO.value} needs --mode=int8."
        )
    common_flags.check_file("model_path", MODEL_PATH.value)
    path = OUTPUT.value or output_path(MODEL_PATH.value, MODE.value)
    default = None if OUTPUT.value else "next to --model_path"
    common_flags.check_writable("output", path, default=default)
    from tf_compact import lite

    model = common_flags.load_keras_model("model_path", MODEL_PATH.value)
    _check_names(model)
    data = functools.cache(lambda: _data(model))
    kwargs = _signature_and_metadata(model, data)
    if MODE.value == "int8":
        kwargs["representative_data"] = data().train
        kwargs["num_calibration_steps"] = CALIBRATION_STEPS.value
    inference_io = INFERENCE_IO.value
    if common_flags.EDGETPU.value:
        kwargs["target"] = "edgetpu"
        inference_io = inference_io if INFERENCE_IO.present else None
    result = lite.convert(
        model,
        mode=MODE.value,
        inference_io=inference_io,
        output_path=path,
        **kwargs,
    )
    print(f"Wrote {path}: {len(result) / 1024:.1f} KiB ({MODE.value})")
    print(f"Conversion path: {result.path_used}")
    if result.max_abs_diff is not None:
        print(f"Max abs diff vs Keras: {result.max_abs_diff:.3g}")
    if result.argmax_agreement is not None:
        print(f"Argmax agreement vs Keras: {result.argmax_agreement:.4f}")
    if MODE.value in ("float32", "float16"):
        print(f"GPU delegate: {lite.gpu_report(result).summary()}")
    report = getattr(result, "edgetpu", None)
    if report is not None:
        print(report.summary())
        for finding in report.findings:
            print(finding.text())


if __name__ == "__main__":
    app.run(main)
