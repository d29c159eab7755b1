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
"""

from absl import app
from absl import flags

from tf_compact.cli import common_flags

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


def main(argv):
    """Converts the model and prints the size and conversion checks.

    Raises:
        app.UsageError: on positional arguments, a missing --model_path,
            or --edgetpu without --mode=int8.
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not MODEL_PATH.value:
        raise app.UsageError("--model_path is required.")
    if common_flags.EDGETPU.value and MODE.value != "int8":
        raise app.UsageError("--edgetpu needs --mode=int8.")
    import keras

    from tf_compact import lite

    model = keras.saving.load_model(MODEL_PATH.value, compile=False)
    kwargs = {}
    if MODE.value == "int8":
        kwargs["representative_data"] = common_flags.load_data().train
        kwargs["num_calibration_steps"] = CALIBRATION_STEPS.value
    path = OUTPUT.value or output_path(MODEL_PATH.value, MODE.value)
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
    report = getattr(result, "edgetpu", None)
    if report is not None:
        print(report.summary())
        for finding in report.findings:
            print(finding.text())


if __name__ == "__main__":
    app.run(main)
