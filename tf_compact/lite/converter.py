"""Keras model to TFLite: float32, float16, dynamic-range, int8, QAT."""

import os

from tf_compact.lite import edgetpu_target
from tf_compact.lite.android import order_notes
from tf_compact.lite.android import prepare_for_android
from tf_compact.lite.android import validate_labels
from tf_compact.lite.android import wants_android
from tf_compact.lite.calibration import first_step
from tf_compact.lite.calibration import representative_fn
from tf_compact.lite.calibration import validate_source
from tf_compact.lite.converter_run import check_full_integer
from tf_compact.lite.converter_run import convert_with_fallback
from tf_compact.lite.converter_run import is_keras3
from tf_compact.lite.converter_run import is_tf_keras
from tf_compact.lite.input_order import fits
from tf_compact.lite.input_scale import warn_if_prescaled
from tf_compact.lite.layer_norm import quantizable_clone
from tf_compact.lite.mode_notes import mode_notes
from tf_compact.lite.precision import float32_model
from tf_compact.lite.result import ConversionResult
from tf_compact.lite.runtime import make_interpreter
from tf_compact.lite.signature import check_names
from tf_compact.lite.verification import check_input_keys
from tf_compact.lite.verification import compare_with_keras
from tf_compact.lite.verification import input_dtypes
from tf_compact.lite.verification import input_specs
from tf_compact.lite.verification import keras_order
from tf_compact.lite.verification import record_input_order

MODES = ("float32", "float16", "dynamic", "int8", "qat")
IO_TYPES = ("float32", "int8", "uint8")


def _validate_model(model, mode):
    if not (is_keras3(model) or is_tf_keras(model)):
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
    if mode == "qat" and not is_tf_keras(model):
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


def _for_android(result, model, runtime, android):
    """`result` with its signature named and its metadata written."""
    inputs, outputs = keras_order(model, result, runtime)
    content = prepare_for_android(
        result, model.name, inputs, outputs, **android
    )
    config = result.info()
    del config["size_bytes"]
    config["notes"] += order_notes(android["output_names"], outputs)
    new = ConversionResult(content, **config)
    make_interpreter(new, runtime=runtime)  # the runtime still loads it
    return new


def _calibration(model, data, num_calibration_steps):
    """Checks the calibration data up front; returns it and the
    converter's `representative_dataset`."""
    validate_source(data)
    specs, structure = input_specs(model)
    if specs is None:
        raise ValueError(
            "Invalid value for argument `model`. Calibration needs to know "
            "the model inputs: expected a Functional or Sequential model, "
            "or a subclassed model built on one tensor or on a dict of "
            f"tensors. Received: model {model.name!r} "
            f"({type(model).__name__}) {structure}"
        )
    ranks = [(name, len(shape)) for name, shape in specs]
    dtypes = input_dtypes(model)
    first, data = first_step(data, ranks, dtypes=dtypes)
    _check_first_step(specs, first)
    warn_if_prescaled(model, first[0])
    # A static batch (a batch-1 Edge TPU clone) takes no other batch size.
    batches = {shape[0] for _, shape in specs}
    static = batches.pop() if len(batches) == 1 else None
    representative = representative_fn(
        data, ranks, num_calibration_steps, batch_size=static, dtypes=dtypes
    )
    if static is not None and not hasattr(data, "__next__"):
        # Enough rows for one batch, checked up front (an iterator would
        # lose the rows looked at).
        next(representative(), None)
    return data, representative


def _check_first_step(specs, first):
    """Raises `ValueError` when a calibration batch misfits its input."""
    for (name, shape), x in zip(specs, first):
        if not fits(tuple(shape), x.shape):
            expected = (None,) + tuple(shape)[1:]
            which = "the model input" if name is None else f"input {name!r}"
            raise ValueError(
                "Invalid value for argument `representative_data`. Expected "
                f"batches of shape {expected} for {which}. Received: a "
                f"batch of shape {x.shape}"
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
    model is not modified. A model built under a mixed-precision policy
    (`"mixed_float16"`, `"mixed_bfloat16"`), whose layers compute in half
    precision that TFLite cannot convert, is converted (and verified) as a
    float32 copy with the same weights, in every mode; `.notes` says so.

    Outputs are compared with Keras by the names of the converted model's
    signature (TFLite may store outputs and inputs in an order of its own):
    list outputs as `output_<i>`, dict outputs by key, inputs by their
    `keras.Input` names. `max_abs_diff` is the largest difference over all
    outputs, `argmax_agreement` is measured on the first output. The
    file records the Keras order of several inputs: `tfc.lite.predict`,
    `benchmark` and `accuracy_of` take a list of arrays in that order.

    Args:
        model: A built Keras 3 model: Functional or Sequential (slimmed
            models included), or subclassed, called once on one tensor or a
            dict of tensors; any number of inputs, outputs as a tensor, a
            list or a dict. For `mode="qat"`, a quantized `tf_keras` model.
        mode: One of `"float32"`, `"float16"`, `"dynamic"`, `"int8"`,
            `"qat"`. Defaults to `"float32"`.
        representative_data: Calibration inputs for `"int8"`: a numpy array
            (one step per row), an `(x, y)` tuple of arrays, a
            `tf.data.Dataset` of inputs or `(x, y)` pairs, or a callable
            returning an iterable. For `"qat"` it is
            optional and calibrates ops that training left without ranges
            (e.g. preprocessing layers). With any mode, it is also the
            verification batch. For several inputs, each step is a list or
            tuple of arrays (in the model's input order) or a dict keyed by
            input name, alone or as `(x, y)`; or the whole data is a list,
            tuple or dict of arrays, one step per row, alone or as arrays
            `(x, y)`. Defaults to `None`.
        num_calibration_steps: Batches of `representative_data` to feed
            (a model of static batch size, such as the `target="edgetpu"`
            clone, takes their rows in batches of that size). Defaults to
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
            `tfc.lite.add_metadata`. There must be one label per unit of the
            output's last dimension. Defaults to `None`.
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
            `mode="int8"` is asked without `representative_data`,
            `representative_data` holds no sample or does not fit the
            model inputs, `labels` do not match the output width, a
            mixed-precision model cannot be copied (subclassed), or the
            keys of a dict of inputs are not their `keras.Input` names.
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
    check_input_keys(model)
    validate_labels(model, labels)
    check_names(model, signature_key, input_names, output_names)
    model, precision_note = float32_model(model)
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
    content, path_used, notes = convert_with_fallback(
        model, mode, representative, inference_io
    )
    content = record_input_order(content, model)
    if precision_note:
        notes = [precision_note, *notes]
    if mode in ("int8", "qat"):
        check_full_integer(content, model, mode)
    notes += mode_notes(content, model, mode, inference_io)
    result = ConversionResult(
        content, mode, path_used, inference_io=inference_io, notes=notes
    )
    if verify:
        compare_with_keras(result, model, representative_data, runtime)
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
