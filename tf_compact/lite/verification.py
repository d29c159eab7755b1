"""Checking a converted model against Keras: the Keras model's inputs, how
they and its outputs pair with the TFLite signature, and the comparison of
outputs that `convert` records on its result."""

import numpy as np

from tf_compact.internal import heads
from tf_compact.lite.calibration import verification_inputs
from tf_compact.lite.converter_run import is_keras3
from tf_compact.lite.errors import ConversionError
from tf_compact.lite.input_order import store_input_order
from tf_compact.lite.interpreter_io import model_io
from tf_compact.lite.interpreter_io import run_outputs
from tf_compact.lite.runtime import make_interpreter
from tf_compact.lite.scopes import natural_key
from tf_compact.lite.signature import pack_model
from tf_compact.lite.signature import unpack_model
from tf_compact.lite.verification_checks import LOW_AGREEMENT
from tf_compact.lite.verification_checks import check_float32
from tf_compact.lite.verification_checks import flag_disagreement


def _shape_tuple(shape):
    shape = shape.as_list() if hasattr(shape, "as_list") else shape
    return tuple(None if d is None else int(d) for d in shape)


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        d is None or isinstance(d, int) for d in value
    )


def _input_structure(model):
    """`model.input` (a tensor, a list or a dict of them), or `None`."""
    try:
        return model.input
    except (AttributeError, ValueError):
        return None


def input_specs(model):
    """`(name, shape)` per model input in model order, and how the model
    takes them (`"list"`, `"dict"`), or `(None, why)` when unknown.

    Graph models give their `keras.Input`s (their names are the converted
    model's signature names), `"dict"` when built on a dict of them keyed
    by those names (see `check_input_keys`). A subclassed model gives the
    shapes it was built with: one tensor (name unknown, `None`) or a dict
    of tensors.
    """
    try:
        inputs = list(model.inputs or [])
    except AttributeError:
        inputs = []
    if inputs:
        specs = [(t.name, _shape_tuple(t.shape)) for t in inputs]
        structure = _input_structure(model)
        by_name = isinstance(structure, dict) and all(
            key == getattr(t, "name", None) for key, t in structure.items()
        )
        return specs, "dict" if by_name else "list"
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


def check_input_keys(model):
    """Refuses a model built on a dict of inputs keyed unlike their names.

    The converted model's signature names its inputs by their
    `keras.Input` names, and a dict of arrays is read by those names, so
    the keys of `model.input` must be the same names.

    Args:
        model: A Keras model (a `tf_keras` model is not checked).

    Raises:
        ValueError: Naming the keys expected (the inputs' names) and the
            keys received.

    Example:

    ```python
    check_input_keys(keras.Model({"image": image_input}, out))  # passes
    ```
    """
    structure = _input_structure(model) if is_keras3(model) else None
    if not isinstance(structure, dict):
        return
    names = {key: getattr(t, "name", key) for key, t in structure.items()}
    if all(key == name for key, name in names.items()):
        return
    raise ValueError(
        "Invalid value for argument `model`. Expected the keys of a dict "
        "of inputs to be the names of their `keras.Input`s, which name the "
        f"TFLite inputs: keys {sorted(names.values())}. Received: keys "
        f"{sorted(names)} (key: input name {names}); build the model on "
        "`keras.Input(shape, name=key)` for each key."
    )


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
        check_float32(result, model, expected, diffs)
    elif (result.argmax_agreement is not None) and (
        result.argmax_agreement < LOW_AGREEMENT
    ):
        flag_disagreement(result, model)


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


def _signature_inputs(flat):
    """`(name, detail)` pairs of the only signature's inputs of a `ModelT`,
    each detail holding the tensor's shapes; `None` without one signature."""
    defs = list(flat.signatureDefs or [])
    if len(defs) != 1:
        return None
    tensors = flat.subgraphs[defs[0].subgraphIndex].tensors
    pairs = []
    for tensor_map in defs[0].inputs or []:
        tensor = tensors[tensor_map.tensorIndex]
        shape = list(tensor.shape if tensor.shape is not None else [])
        signature = tensor.shapeSignature
        signature = shape if signature is None else list(signature)
        name = tensor_map.name
        name = name.decode("utf-8") if isinstance(name, bytes) else name
        pairs.append((name, {"shape": shape, "shape_signature": signature}))
    return pairs


def record_input_order(content, model):
    """Records the Keras model's input order in its converted file.

    Args:
        content: The `.tflite` bytes `model` was converted to.
        model: The Keras model.

    Returns:
        For a model with several inputs that pair with the signature's (by
        name, else by a shape that only one has), the bytes with the order
        recorded (see `tf_compact.lite.input_order`); else `content`.

    Example:

    ```python
    content = record_input_order(content, two_input_model)
    ```
    """
    specs, _ = input_specs(model)
    if specs is None or len(specs) < 2:
        return content
    flat = unpack_model(content)
    tflite_inputs = _signature_inputs(flat)
    names = tflite_inputs and _match_inputs(specs, tflite_inputs)
    if not names:
        return content
    store_input_order(flat, names)
    return pack_model(flat)
