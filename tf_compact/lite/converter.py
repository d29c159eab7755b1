"""Keras model to TFLite: float32, float16, dynamic-range, int8, QAT."""

import contextlib
import io
import os
import tempfile

import numpy as np

from tf_compact.lite import diagnostics
from tf_compact.lite.calibration import representative_fn
from tf_compact.lite.calibration import verification_batch
from tf_compact.lite.errors import ConversionError
from tf_compact.lite.errors import QuantizationError
from tf_compact.lite.inference import run_interpreter
from tf_compact.lite.ops import float_compute_ops
from tf_compact.lite.ops import read_ops
from tf_compact.lite.result import ConversionResult
from tf_compact.lite.runtime import make_interpreter

MODES = ("float32", "float16", "dynamic", "int8", "qat")
IO_TYPES = ("float32", "int8", "uint8")
FLOAT_TOLERANCE = 1e-3
PATHS = ("from_keras_model", "saved_model")


def _is_keras3(model):
    import keras

    return isinstance(model, keras.Model)


def _is_tf_keras(model):
    return any(c.__module__.startswith("tf_keras") for c in type(model).__mro__)


def _validate_model(model, mode):
    if not (_is_keras3(model) or _is_tf_keras(model)):
        raise TypeError(
            "Invalid type for argument `model`. Expected a Keras model. "
            f"Received: type={type(model).__name__}"
        )
    if mode == "qat" and not _is_tf_keras(model):
        raise ValueError(
            "mode='qat' converts a quantization-aware trained model, as "
            "returned by `tfc.lite.quantize_model` (then trained) or used "
            "inside `tfc.lite.qat`. Received: the Keras 3 model "
            f"{model.name!r}; call `tfc.lite.qat(model, train_data)` to "
            "train and convert it, or use mode='int8' for post-training "
            "quantization."
        )


def _validate_mode(mode, inference_io):
    if mode not in MODES:
        raise ValueError(
            f"Invalid value for argument `mode`. Expected one of {MODES}. "
            f"Received: mode={mode!r}"
        )
    if inference_io not in IO_TYPES:
        raise ValueError(
            "Invalid value for argument `inference_io`. Expected one of "
            f"{IO_TYPES}. Received: inference_io={inference_io!r}"
        )
    if inference_io != "float32" and mode not in ("int8", "qat"):
        raise ValueError(
            "Invalid value for argument `inference_io`. Integer I/O needs "
            "mode='int8' or mode='qat'. Received: "
            f"inference_io={inference_io!r} with mode={mode!r}"
        )


def _input_shape(model):
    if len(model.inputs) != 1:
        return None
    shape = model.inputs[0].shape
    return tuple(shape.as_list() if hasattr(shape, "as_list") else shape)


def _layer_names(model):
    return [layer.name for layer in model.layers]


def _make_converter(model, path, workdir):
    import tensorflow as tf

    if path == "from_keras_model":
        return tf.lite.TFLiteConverter.from_keras_model(model)
    export_dir = os.path.join(workdir, "saved_model")
    if _is_keras3(model):
        model.export(export_dir, format="tf_saved_model", verbose=False)
    else:
        tf.saved_model.save(model, export_dir)
    return tf.lite.TFLiteConverter.from_saved_model(export_dir)


def _configure(converter, mode, representative, inference_io):
    import tensorflow as tf

    if mode == "float32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if representative is not None:
        converter.representative_dataset = representative
        builtins = tf.lite.OpsSet.TFLITE_BUILTINS_INT8
        converter.target_spec.supported_ops = [builtins]
    if mode in ("int8", "qat"):
        dtype = getattr(tf, inference_io)
        converter.inference_input_type = dtype
        converter.inference_output_type = dtype


def _run_converter(model, path, mode, representative, inference_io):
    with (
        tempfile.TemporaryDirectory() as workdir,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        converter = _make_converter(model, path, workdir)
        _configure(converter, mode, representative, inference_io)
        return converter.convert()


def _convert_with_fallback(model, mode, representative, inference_io):
    errors = {}
    for path in PATHS:
        try:
            content = _run_converter(
                model, path, mode, representative, inference_io
            )
        except Exception as e:  # the converter raises many types
            errors[path] = e
            if diagnostics.failing_ops(str(e), _layer_names(model)):
                break
            continue
        notes = [
            f"{p} failed: {diagnostics.first_line(e)}"
            for p, e in errors.items()
        ]
        return content, path, notes
    raise _conversion_error(model, mode, errors)


def _conversion_error(model, mode, errors):
    names = _layer_names(model)
    pairs = set()
    for e in errors.values():
        pairs.update(diagnostics.failing_ops(str(e), names))
    tried = "; ".join(
        f"{p}: {diagnostics.first_line(e)}" for p, e in errors.items()
    )
    if pairs:
        what = diagnostics.describe_ops(sorted(pairs, key=str))
        return ConversionError(
            f"Model {model.name!r} is not convertible to TFLite builtins "
            f"(mode={mode!r}): unsupported ops {what}. Replace these layers "
            f"or ops. Converter said: {tried}"
        )
    return ConversionError(
        f"Model {model.name!r} could not be converted to TFLite "
        f"(mode={mode!r}). Tried {tried}"
    )


def _check_full_integer(content, model, mode):
    left = float_compute_ops(read_ops(content, _layer_names(model)))
    if not left:
        return
    pairs = [(op.op_name, op.layer) for op in left]
    raise QuantizationError(
        f"mode={mode!r} asked for full int8, but these ops could not be "
        f"quantized and stayed in float: {diagnostics.describe_ops(pairs)}. "
        "Replace them with quantizable ops, or use mode='dynamic' or "
        "'float16'.",
        ops=pairs,
    )


def _keras_outputs(model, x):
    out = model(x, training=False)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return np.asarray(out, dtype=np.float32)


def _verify(result, model, data, runtime):
    shape = _input_shape(model)
    x = verification_batch(data, shape) if shape else None
    if x is None:
        result.notes.append("not verified: input shape unknown or multiple")
        return
    interpreter, info = make_interpreter(result, runtime=runtime)
    got = run_interpreter(interpreter, x)
    got = got[0] if isinstance(got, list) else got
    expected = _keras_outputs(model, x)
    if not np.all(np.isfinite(got)):
        raise ConversionError(
            f"TFLite outputs of model {model.name!r} are not finite "
            f"(mode={result.mode!r}, path={result.path_used!r}): weights may "
            "not have been captured by the converter."
        )
    result.runtime = info.runtime
    result.max_abs_diff = float(np.max(np.abs(got - expected)))
    if expected.ndim >= 2 and expected.shape[-1] > 1:
        same = got.argmax(-1) == expected.argmax(-1)
        result.argmax_agreement = float(np.mean(same))
    # Relative to the output scale: untrained nets can have logits in the
    # thousands, where float rounding alone exceeds any absolute bound.
    bound = FLOAT_TOLERANCE * max(1.0, float(np.max(np.abs(expected))))
    if result.mode == "float32" and result.max_abs_diff > bound:
        raise ConversionError(
            f"float32 TFLite outputs of model {model.name!r} differ from "
            f"Keras by {result.max_abs_diff:.3g} (> {bound:.3g}, that is "
            f"{FLOAT_TOLERANCE} x the output scale), "
            f"path={result.path_used!r}."
        )


def _write(content, output_path):
    output_path = os.fspath(output_path)
    parent = os.path.dirname(output_path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(output_path, "wb") as f:
        f.write(bytes(content))
    return output_path


def convert(
    model,
    mode="float32",
    representative_data=None,
    num_calibration_steps=100,
    inference_io="float32",
    output_path=None,
    verify=True,
    runtime="auto",
):
    """Converts a Keras model to TFLite and checks it against Keras.

    Modes:

    - `"float32"`: no quantization.
    - `"float16"`: float16 weights (about half the size), float compute.
    - `"dynamic"`: int8 weights, activations quantized on the fly.
    - `"int8"`: full integer (weights and activations), calibrated on
      `representative_data`; every op must be int8 (Edge TPU, NPUs, MCUs).
    - `"qat"`: full integer from a quantization-aware trained `tf_keras`
      model (see `tfc.lite.quantize_model` and `tfc.lite.qat`).

    The model is converted with `TFLiteConverter.from_keras_model`, and if
    that fails, through a SavedModel (`path_used` says which). The user's
    model is not modified.

    Args:
        model: A Keras 3 Functional or Sequential model (slimmed models
            included); for `mode="qat"`, a quantized `tf_keras` model.
        mode: One of `"float32"`, `"float16"`, `"dynamic"`, `"int8"`,
            `"qat"`. Defaults to `"float32"`.
        representative_data: Calibration inputs for `"int8"`: a numpy array
            (one step per row), a `tf.data.Dataset` of inputs or `(x, y)`
            pairs, or a callable returning an iterable. For `"qat"` it is
            optional and calibrates ops that training left without ranges
            (e.g. preprocessing layers). With any mode, it is also the
            verification batch. Defaults to `None`.
        num_calibration_steps: Calibration batches to feed. Defaults to
            `100`.
        inference_io: Input/output dtype, `"float32"`, `"int8"` or
            `"uint8"` (integer I/O only for `"int8"`/`"qat"`; Coral wants
            `"uint8"` or `"int8"`). Defaults to `"float32"`.
        output_path: File to write the model to, or `None`. Defaults to
            `None`.
        verify: Whether to run the TFLite model on a batch (representative
            data, else uniform noise) and compare with Keras; float32 must
            match within `FLOAT_TOLERANCE` times `max(1, max |output|)`.
            Defaults to `True`.
        runtime: Interpreter runtime for verification, see
            `make_interpreter`. Defaults to `"auto"`.

    Returns:
        A `ConversionResult`: the TFLite bytes, with `.path_used`,
        `.max_abs_diff`, `.argmax_agreement`, `.runtime` and `.notes`.

    Raises:
        TypeError: If `model` is not a Keras model.
        ValueError: If an argument is invalid, or `mode="int8"` is asked
            without `representative_data`.
        ConversionError: If the model is not convertible (the message names
            the unsupported ops and their layers), or if float32 outputs
            differ from Keras.
        QuantizationError: If full integer is asked and some ops stayed in
            float (named with their layers).

    Example:

    ```python
    tflite = tfc.lite.convert(
        model,
        mode="int8",
        representative_data=x_train[:200],
        inference_io="uint8",
        output_path="model_int8.tflite",
    )
    print(len(tflite), tflite.argmax_agreement)
    ```
    """
    _validate_mode(mode, inference_io)
    _validate_model(model, mode)
    if mode == "int8" and representative_data is None:
        raise ValueError(
            "mode='int8' needs `representative_data` to calibrate activation "
            "ranges, e.g. a few hundred training inputs. Received: "
            "representative_data=None. Use mode='dynamic' for int8 weights "
            "without calibration data."
        )
    representative = None
    shape = _input_shape(model)
    if representative_data is not None and mode in ("int8", "qat"):
        rank = len(shape) if shape else 4
        representative = representative_fn(
            representative_data, rank, num_calibration_steps
        )
    content, path_used, notes = _convert_with_fallback(
        model, mode, representative, inference_io
    )
    if mode in ("int8", "qat"):
        _check_full_integer(content, model, mode)
    result = ConversionResult(
        content, mode, path_used, inference_io=inference_io, notes=notes
    )
    if verify:
        _verify(result, model, representative_data, runtime)
    if output_path is not None:
        result.output_path = _write(result, output_path)
    return result
