"""Checking a converted model against Keras: the Keras model's inputs, how
they and its outputs pair with the TFLite signature, and the comparison of
outputs that `convert` records on its result."""

import numpy as np

from tf_compact.internal import heads
from tf_compact.lite.calibration import verification_inputs
from tf_compact.lite.errors import ConversionError
from tf_compact.lite.interpreter_io import model_io
from tf_compact.lite.interpreter_io import run_outputs
from tf_compact.lite.runtime import make_interpreter
from tf_compact.lite.scopes import natural_key

FLOAT_TOLERANCE = 1e-3


def _shape_tuple(shape):
    shape = shape.as_list() if hasattr(shape, "as_list") else shape
    return tuple(None if d is None else int(d) for d in shape)


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        d is None or isinstance(d, int) for d in value
    )


def input_specs(model):
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


def input_dtypes(model):
    """The numpy dtype of each model input in model order (float32 where
    unknown), or `None` when the model's inputs are unknown."""
    try:
        inputs = list(model.inputs or [])
    except AttributeError:
        return None
    if not inputs:
        return None
    dtypes = []
    for tensor in inputs:
        dtype = getattr(tensor.dtype, "as_numpy_dtype", tensor.dtype)
        try:
            dtypes.append(np.dtype(dtype))
        except TypeError:
            dtypes.append(np.dtype(np.float32))
    return dtypes


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


def compare_with_keras(result, model, data, runtime):
    """Runs `result` and `model` on one batch and records how they differ.

    Sets `max_abs_diff`, `argmax_agreement` and `runtime` on `result`, or
    adds a note saying why the outputs could not be compared. Raises
    `ConversionError` for non-finite outputs, and for float32 outputs
    further from Keras than `FLOAT_TOLERANCE` allows.
    """
    specs, structure = input_specs(model)
    if specs is None:
        result.notes.append(f"not verified: model inputs unknown ({structure})")
        return
    interpreter, info = make_interpreter(result, runtime=runtime)
    tflite_inputs, tflite_outputs = model_io(interpreter)
    feed_names = _match_inputs(specs, tflite_inputs)
    xs = verification_inputs(data, specs, dtypes=input_dtypes(model))
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
    regression = heads.regression_loss(getattr(model, "loss", None))
    if regression is not None:
        result.notes.append(
            "argmax agreement left out: the model is compiled with the "
            f"regression loss {regression!r} (see max_abs_diff)"
        )
    elif ref.ndim >= 2 and ref.shape[-1] > 1:
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


def keras_order(model, content, runtime):
    """Signature input and output names in the Keras model's order."""
    interpreter, _ = make_interpreter(content, runtime=runtime)
    tflite_inputs, tflite_outputs = model_io(interpreter)
    inputs = [n for n, _ in tflite_inputs]
    specs, _ = input_specs(model)
    if specs is not None:
        inputs = _match_inputs(specs, tflite_inputs) or inputs
    outputs = sorted((n for n, _ in tflite_outputs), key=natural_key)
    names = list(getattr(model, "output_names", None) or [])
    if not all(n.startswith("output_") for n in outputs) and sorted(
        names
    ) == sorted(outputs):
        outputs = names
    return inputs, outputs
