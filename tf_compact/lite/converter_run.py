"""Running `tf.lite.TFLiteConverter` on a Keras model: directly, then
through a SavedModel when that fails, with errors that name the ops the
converter refused and a check that full-integer models have no float op
left."""

import contextlib
import io
import os
import tempfile
import warnings

from tf_compact.lite import diagnostics
from tf_compact.lite.errors import ConversionError
from tf_compact.lite.errors import QuantizationError
from tf_compact.lite.ops import float_compute_ops
from tf_compact.lite.ops import read_ops

PATHS = ("from_keras_model", "saved_model")


def is_keras3(model):
    """Whether `model` is a Keras 3 model."""
    import keras

    return isinstance(model, keras.Model)


def is_tf_keras(model):
    """Whether `model` is a `tf_keras` (Keras 2) model."""
    return any(c.__module__.startswith("tf_keras") for c in type(model).__mro__)


def _layer_names(model):
    return [layer.name for layer in model.layers]


def _recurrent_layers(model):
    """Names of the recurrent layers (LSTM, GRU, any RNN, wrapped or
    nested) of a Keras model."""
    import keras

    found = []
    for layer in getattr(model, "layers", []):
        inner = getattr(layer, "forward_layer", None) or layer
        if isinstance(inner, keras.layers.RNN):
            found.append(layer.name)
        elif isinstance(layer, keras.Model):
            found.extend(_recurrent_layers(layer))
    return found


def _make_converter(model, path, workdir):
    import tensorflow as tf

    if path == "from_keras_model":
        return tf.lite.TFLiteConverter.from_keras_model(model)
    export_dir = os.path.join(workdir, "saved_model")
    if is_keras3(model):
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


#: What Keras warns when TensorFlow's converter traces a dict-input model
#: with a list of tensors (in input order; verification checks the file).
_LIST_FOR_DICT = r"The structure of `inputs` doesn't match the expected"


def _run_converter(model, path, mode, representative, inference_io):
    with (
        tempfile.TemporaryDirectory() as workdir,
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", _LIST_FOR_DICT, UserWarning)
        converter = _make_converter(model, path, workdir)
        _configure(converter, mode, representative, inference_io)
        return converter.convert()


def convert_with_fallback(model, mode, representative, inference_io):
    """Tries each path of `PATHS` until one converts the model.

    Returns `(content, path_used, notes)`, the notes saying why earlier
    paths failed; raises `ConversionError` when every path fails (or the
    first names ops that no path can convert).
    """
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
    recurrent = _recurrent_layers(model)
    if recurrent and any("TensorList" in str(e) for e in errors.values()):
        return ConversionError(
            f"Model {model.name!r} could not be converted to TFLite "
            f"(mode={mode!r}): its recurrent layers {recurrent} loop over "
            "time with a tensor list of unknown size, which TFLite builtins "
            "cannot hold. Build them with `unroll=True` (a fixed sequence "
            "length), or the model on a fixed batch, e.g. "
            "`keras.Input(shape, batch_size=1)`. Converter said: "
            f"{tried}"
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


def check_full_integer(content, model, mode):
    """Raises `QuantizationError` naming the ops that stayed in float."""
    left = float_compute_ops(read_ops(content, _layer_names(model)))
    if not left:
        return
    pairs = list(dict.fromkeys((op.op_name, op.layer) for op in left))
    raise QuantizationError(
        f"mode={mode!r} asked for full int8, but these ops could not be "
        f"quantized and stayed in float: {diagnostics.describe_ops(pairs)}. "
        "Replace them with quantizable ops, or (not for a Coral Edge "
        "TPU, which runs full int8 only) use mode='dynamic' or 'float16'.",
        ops=pairs,
    )
