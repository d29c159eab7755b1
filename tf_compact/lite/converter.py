"""Keras model to TFLite: float32, float16, dynamic-range, int8, QAT."""

import contextlib
import io
import os
import tempfile

import numpy as np

from tf_compact.lite import diagnostics
from tf_compact.lite import edgetpu_target
from tf_compact.lite.android import order_notes
from tf_compact.lite.android import prepare_for_android
from tf_compact.lite.android import wants_android
from tf_compact.lite.calibration import first_step
from tf_compact.lite.calibration import representative_fn
from tf_compact.lite.calibration import validate_source
from tf_compact.lite.calibration import verification_inputs
from tf_compact.lite.errors import ConversionError
from tf_compact.lite.errors import QuantizationError
from tf_compact.lite.inference import model_io
from tf_compact.lite.inference import run_outputs
from tf_compact.lite.layer_norm import quantizable_clone
from tf_compact.lite.ops import float_compute_ops
from tf_compact.lite.ops import read_ops
from tf_compact.lite.result import ConversionResult
from tf_compact.lite.runtime import make_interpreter
from tf_compact.lite.scopes import natural_key

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
    if not getattr(model, "built", True):
        raise ValueError(
            "Invalid value for argument `model`. Expected a built model "
            "(call it once on a batch, or `model.build(input_shape)`), so "
            "that its inputs are known. Received: the unbuilt model "
            f"{model.name!r} ({type(model).__name__})"
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


def _shape_tuple(shape):
    shape = shape.as_list() if hasattr(shape, "as_list") else shape
    return tuple(None if d is None else int(d) for d in shape)


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        d is None or isinstance(d, int) for d in value
    )


def _input_specs(model):
    """`(name, shape)` per model input in model order, and how the model
    takes them (`"list"`, `"dict"`), or `(None, why)` when unknown.

    Graph models give their `keras.Input`s (their names are the converted
    model's signature names). A subclassed model gives the shapes it was
    built with: one tensor (name unknown, `None`) or a dict of tensors.
    """
    try:
        inputs = list(model.inputs or [])
    except AttributeError:
        inputs = []
    if inputs:
        return [(t.name, _shape_tuple(t.shape)) for t in inputs], "list"
    built = dict(getattr(model, "_build_shapes_dict", None) or {})
    if len(built) == 1:
        (value,) = built.values()
        if _is_shape(value):
            return [(None, (None,) + _shape_tuple(value)[1:])], "list"
        if isinstance(value, dict) and all(map(_is_shape, value.values())):
            return [
                (str(k), (None,) + _shape_tuple(v)[1:])
                for k, v in value.items()
            ], "dict"
    return None, f"built with input shapes {built or 'unknown'}"


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
    pairs = list(dict.fromkeys((op.op_name, op.layer) for op in left))
    raise QuantizationError(
        f"mode={mode!r} asked for full int8, but these ops could not be "
        f"quantized and stayed in float: {diagnostics.describe_ops(pairs)}. "
        "Replace them with quantizable ops, or use mode='dynamic' or "
        "'float16'.",
        ops=pairs,
    )


def _keras_outputs(model, xs, names, structure):
    """Runs the Keras model; returns its outputs as `{name: array}`.

    List outputs are named `output_<i>` like the converted signature, dict
    outputs by their keys, a single output `output_0`.
    """
    if structure == "dict":
        feed = dict(zip(names, xs))
    else:
        feed = xs[0] if len(xs) == 1 else list(xs)
    out = model(feed, training=False)
    if isinstance(out, dict):
        items = [(str(k), v) for k, v in out.items()]
    elif isinstance(out, (list, tuple)):
        items = [(f"output_{i}", v) for i, v in enumerate(out)]
    else:
        items = [("output_0", out)]
    return {k: np.asarray(v, dtype=np.float32) for k, v in items}


def _match_inputs(specs, tflite_inputs):
    """TFLite input names for the Keras inputs `specs`, or `None`."""
    names = [n for n, _ in tflite_inputs]
    if len(specs) != len(names):
        return None
    if len(names) == 1:
        return names
    if all(n in names for n, _ in specs):
        return [n for n, _ in specs]
    # Names differ (e.g. a tf_keras model): match by shape where unique.
    matched = []
    for _, shape in specs:
        fits = [
            n
            for n, detail in tflite_inputs
            if _same_shape(
                shape, detail.get("shape_signature", detail["shape"])
            )
        ]
        if len(fits) != 1:
            return None
        matched.append(fits[0])
    return matched if len(set(matched)) == len(matched) else None


def _same_shape(keras_shape, signature):
    signature = [int(d) for d in signature]
    return len(signature) == len(keras_shape) and all(
        k is None or s < 0 or k == s
        for k, s in zip(keras_shape[1:], signature[1:])
    )


def _match_outputs(model, expected, tflite_names):
    """Pairs of `(keras_name, tflite_name)`, or `None` if they differ."""
    keras_names = list(expected)
    if set(keras_names) == set(tflite_names):
        return [(k, k) for k in keras_names]
    if len(keras_names) == len(tflite_names) == 1:
        return [(keras_names[0], tflite_names[0])]
    output_names = list(getattr(model, "output_names", None) or [])
    if len(output_names) == len(keras_names) and set(output_names) == set(
        tflite_names
    ):
        return list(zip(keras_names, output_names))
    return None


def _verify(result, model, data, runtime):
    specs, structure = _input_specs(model)
    if specs is None:
        result.notes.append(f"not verified: model inputs unknown ({structure})")
        return
    interpreter, info = make_interpreter(result, runtime=runtime)
    tflite_inputs, tflite_outputs = model_io(interpreter)
    feed_names = _match_inputs(specs, tflite_inputs)
    xs = verification_inputs(data, specs)
    if feed_names is None or xs is None:
        result.notes.append(
            "not verified: the model's inputs could not be matched with the "
            "TFLite signature or have unknown dimensions"
        )
        return
    got = run_outputs(interpreter, dict(zip(feed_names, xs)))
    expected = _keras_outputs(model, xs, [n for n, _ in specs], structure)
    pairs = _match_outputs(model, expected, list(got))
    if pairs is None:
        result.notes.append(
            f"not verified: Keras outputs {list(expected)} and TFLite "
            f"outputs {list(got)} could not be matched"
        )
        return
    result.runtime = info.runtime
    diffs = {}
    for keras_name, tflite_name in pairs:
        out, ref = got[tflite_name], expected[keras_name]
        if not np.all(np.isfinite(out)):
            raise ConversionError(
                f"TFLite output {keras_name!r} of model {model.name!r} is "
                f"not finite (mode={result.mode!r}, "
                f"path={result.path_used!r}): weights may not have been "
                "captured by the converter."
            )
        diffs[keras_name] = float(np.max(np.abs(out - ref)))
    result.max_abs_diff = max(diffs.values())
    first_keras, first_tflite = pairs[0]
    ref = expected[first_keras]
    if ref.ndim >= 2 and ref.shape[-1] > 1:
        same = got[first_tflite].argmax(-1) == ref.argmax(-1)
        result.argmax_agreement = float(np.mean(same))
    if result.mode == "float32":
        _check_float32(result, model, expected, diffs)


def _check_float32(result, model, expected, diffs):
    # Relative to the output scale: untrained nets can have logits in the
    # thousands, where float rounding alone exceeds any absolute bound.
    for name, diff in diffs.items():
        scale = float(np.max(np.abs(expected[name]), initial=0.0))
        bound = FLOAT_TOLERANCE * max(1.0, scale)
        if diff > bound:
            raise ConversionError(
                f"float32 TFLite output {name!r} of model {model.name!r} "
                f"differs from Keras by {diff:.3g} (> {bound:.3g}, that is "
                f"{FLOAT_TOLERANCE} x the output scale), "
                f"path={result.path_used!r}."
            )


def _keras_order(model, content, runtime):
    """Signature input and output names in the Keras model's order."""
    interpreter, _ = make_interpreter(content, runtime=runtime)
    tflite_inputs, tflite_outputs = model_io(interpreter)
    inputs = [n for n, _ in tflite_inputs]
    specs, _ = _input_specs(model)
    if specs is not None:
        inputs = _match_inputs(specs, tflite_inputs) or inputs
    outputs = sorted((n for n, _ in tflite_outputs), key=natural_key)
    names = list(getattr(model, "output_names", None) or [])
    if not all(n.startswith("output_") for n in outputs) and sorted(
        names
    ) == sorted(outputs):
        outputs = names
    return inputs, outputs


def _for_android(result, model, runtime, android):
    """`result` with its signature named and its metadata written."""
    inputs, outputs = _keras_order(model, result, runtime)
    content = prepare_for_android(
        result, model.name, inputs, outputs, **android
    )
    config = result.info()
    del config["size_bytes"]
    config["notes"] += order_notes(
        android["input_names"], android["output_names"]
    )
    new = ConversionResult(content, **config)
    make_interpreter(new, runtime=runtime)  # the runtime still loads it
    return new


def _calibration(model, data, num_calibration_steps):
    """Checks the calibration data up front; returns it and the
    converter's `representative_dataset`."""
    validate_source(data)
    specs, structure = _input_specs(model)
    if specs is None:
        raise ValueError(
            "Invalid value for argument `model`. Calibration needs to know "
            "the model inputs: expected a Functional or Sequential model, "
            "or a subclassed model built on one tensor or on a dict of "
            f"tensors. Received: model {model.name!r} "
            f"({type(model).__name__}) {structure}"
        )
    ranks = [(name, len(shape)) for name, shape in specs]
    _, data = first_step(data, ranks)
    return data, representative_fn(data, ranks, num_calibration_steps)


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
    inference_io=None,
    output_path=None,
    verify=True,
    runtime="auto",
    signature_key="serving_default",
    input_names=None,
    output_names=None,
    labels=None,
    normalization=None,
    target=None,
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

    Outputs are compared with Keras by the names of the converted model's
    signature (TFLite may store outputs and inputs in an order of its own):
    list outputs as `output_<i>`, dict outputs by key, inputs by their
    `keras.Input` names. `max_abs_diff` is the largest difference over all
    outputs, `argmax_agreement` is measured on the first output.

    Args:
        model: A built Keras 3 model: Functional or Sequential (slimmed
            models included), or subclassed, called once on one tensor or a
            dict of tensors; any number of inputs, outputs as a tensor, a
            list or a dict. For `mode="qat"`, a quantized `tf_keras` model.
        mode: One of `"float32"`, `"float16"`, `"dynamic"`, `"int8"`,
            `"qat"`. Defaults to `"float32"`.
        representative_data: Calibration inputs for `"int8"`: a numpy array
            (one step per row), a `tf.data.Dataset` of inputs or `(x, y)`
            pairs, or a callable returning an iterable. For `"qat"` it is
            optional and calibrates ops that training left without ranges
            (e.g. preprocessing layers). With any mode, it is also the
            verification batch. For several inputs, each step is a list or
            tuple of arrays (in the model's input order) or a dict keyed by
            input name, alone or as `(x, y)`; or the whole data is a list or
            dict of arrays, one step per row. Defaults to `None`.
        num_calibration_steps: Calibration batches to feed. Defaults to
            `100`.
        inference_io: Input/output dtype, `"float32"`, `"int8"` or
            `"uint8"` (integer I/O only for `"int8"`/`"qat"`; Coral wants
            `"uint8"` or `"int8"`). Defaults to `None`: `"float32"`, or
            `"uint8"` with `target="edgetpu"`.
        output_path: File to write the model to, or `None`. Defaults to
            `None`.
        verify: Whether to run the TFLite model on a batch (representative
            data, else uniform noise) and compare with Keras; float32 must
            match within `FLOAT_TOLERANCE` times `max(1, max |output|)`.
            Defaults to `True`.
        runtime: Interpreter runtime for verification, see
            `make_interpreter`. Defaults to `"auto"`.
        signature_key: Key of the model's signature, the one an Android
            app runs (`interpreter.runSignature(inputs, outputs, key)`).
            Defaults to `"serving_default"`.
        input_names: Names of the inputs in the signature, a list in the
            Keras model's input order (or a dict from the current signature
            name to the new one). `None` keeps the `keras.Input` names.
            Defaults to `None`.
        output_names: Names of the outputs in the signature, a list in
            Keras output order (or a dict). `None` keeps `output_<i>` (dict
            outputs: their keys). Defaults to `None`.
        labels: Class names written into the LiteRT metadata as the
            output's label file (`labels.txt`, packed in the model): a list
            of strings or the path of a text file with one label per line;
            for several outputs, a dict keyed by (new) output name. See
            `tfc.lite.add_metadata`. Defaults to `None`.
        normalization: `(mean, std)` of the input, `(x - mean) / std`,
            written into the metadata (numbers or per-channel lists; for
            several inputs, a dict keyed by input name). It documents what
            the app must do; the model itself is not changed. Defaults to
            `None`.
        target: `None`, or `"edgetpu"` for a Coral Edge TPU: `mode` must
            be `"int8"` or `"qat"`, I/O is integer, and the model is
            rebuilt on batch-1 inputs so that every shape is static. The
            result then carries `.edgetpu`, the `tfc.lite.edgetpu_report`
            of the file (with the compiler's log when `edgetpu_compiler` is
            on the PATH; the compiled file is written next to
            `output_path`). Defaults to `None`.

    Returns:
        A `ConversionResult`: the TFLite bytes, with `.path_used`,
        `.max_abs_diff`, `.argmax_agreement`, `.runtime` and `.notes`.

    Raises:
        TypeError: If `model` is not a Keras model.
        ValueError: If an argument is invalid, `model` is not built,
            `mode="int8"` is asked without `representative_data`, or
            `representative_data` holds no sample or does not fit the
            model inputs.
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

    android_ready = tfc.lite.convert(
        model,
        input_names=["image"],
        output_names=["probabilities"],
        labels=["t-shirt", "trouser", "pullover"],
        normalization=(0.0, 255.0),
    )
    ```
    """
    inference_io = edgetpu_target.resolve_io(target, mode, inference_io)
    _validate_mode(mode, inference_io)
    _validate_model(model, mode)
    if target is not None:
        model = edgetpu_target.static_batch_model(model)
    if mode == "int8":
        # Layer norms rewritten without the NEG op that int8 lacks.
        model = quantizable_clone(model)
    if mode == "int8" and representative_data is None:
        raise ValueError(
            "mode='int8' needs `representative_data` to calibrate activation "
            "ranges, e.g. a few hundred training inputs. Received: "
            "representative_data=None. Use mode='dynamic' for int8 weights "
            "without calibration data."
        )
    representative = None
    if representative_data is not None and mode in ("int8", "qat"):
        representative_data, representative = _calibration(
            model, representative_data, num_calibration_steps
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
    android = {
        "signature_key": signature_key,
        "input_names": input_names,
        "output_names": output_names,
        "labels": labels,
        "normalization": normalization,
    }
    if wants_android(*android.values()):
        result = _for_android(result, model, runtime, android)
    if output_path is not None:
        result.output_path = _write(result, output_path)
    if target is not None:
        edgetpu_target.attach_report(result, model)
    return result
