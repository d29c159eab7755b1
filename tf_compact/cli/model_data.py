"""The --dataset data as the model a command was given takes it.

A command checks the data against the model's input shape before any long
work, and feeds a model whose inputs are integers (`keras.Input(...,
dtype="uint8")`, then its own `Rescaling`) the stored pixel values: the
loaders scale them to floats in `[0, 1]`, which such an input would cast
to 0 or 1.

```python
bundle = model_data.for_model(common_flags.load_data(), model_inputs(model))
representative_data = bundle.train
```
"""

from absl import app

from tf_compact.data import stored_values
from tf_compact.lite import input_range
from tf_compact.lite.flatbuffer import model_schema
from tf_compact.lite.metadata import read_metadata

_INTEGER_TYPES = ("UINT8", "INT8", "INT16", "UINT16", "INT32", "INT64")


def tflite_inputs(content):
    """`[(shape without the batch axis, raw)]` of a `.tflite` model's
    inputs; `raw` for an input that takes stored pixel values: a raw
    integer input (no quantization scale: a quantized input takes floats,
    quantized by the interpreter), or one quantized (8 or 16 bits) for
    values spanning more than `input_range.RAW_SPAN_ABOVE` (calibrated on
    raw pixels), in the input itself or in the `QUANTIZE` op reading it
    (`input_range.input_spans`)."""
    schema = model_schema()
    model = schema.ModelT.InitFromPackedBuf(bytes(content), 0)
    graph = model.subgraphs[0]
    types = {getattr(schema.TensorType, name) for name in _INTEGER_TYPES}
    # Spans read by the interpreter; a compiled Edge TPU file has none
    # there, and its quantized inputs carry their own.
    spans = input_range.file_input_spans(content)
    found = []
    for i, index in enumerate(graph.inputs):
        tensor = graph.tensors[index]
        dims = tensor.shapeSignature
        dims = list(tensor.shape if dims is None or not len(dims) else dims)
        own = _span(schema, tensor)
        span = spans[i] if spans else own
        raw = tensor.type in types and not own
        raw = raw or (span or 0) > input_range.RAW_SPAN_ABOVE
        found.append((tuple(d if d >= 0 else None for d in dims[1:]), raw))
    return found


def _span(schema, tensor):
    """The span of float values a quantized tensor covers, or `None`."""
    names = {v: k for k, v in vars(schema.TensorType).items()}
    scales = getattr(tensor.quantization, "scale", None)
    return input_range.quantized_span(names.get(tensor.type), scales)


def for_tflite(bundle, content):
    """The --dataset bundle as an app feeds a `.tflite` file: a float
    input with normalization metadata gets `(stored - mean) / std`, as the
    LiteRT support library computes it; other inputs as `for_model`."""
    meta = read_metadata(bytes(content))
    inputs = tflite_inputs(content)
    norms = [(t.mean, t.std) for t in (meta.inputs if meta else [])]
    floats = [not raw for _, raw in inputs]
    usable = len(norms) == 1 and norms[0][0] is not None and floats == [True]
    if usable and getattr(bundle, "scale", None):
        return stored_values.StoredValuesBundle(bundle, *norms[0])
    return for_model(bundle, inputs)


def for_model(bundle, inputs):
    """`bundle`, or a `StoredValuesBundle` of it for a model with integer
    inputs when the bundle scales its features (`stored_values.for_inputs`).

    Args:
        bundle: a `DatasetBundle`.
        inputs: the model's inputs, from `keras_inputs` or `tflite_inputs`.
    """
    return stored_values.for_inputs(bundle, inputs)


def _text(shape):
    return "x".join("?" if d is None else str(d) for d in shape)


def check_input_shape(model_flag, inputs, bundle, dataset):
    """Raises a usage error when a one-input model cannot take `bundle`.

    Args:
        model_flag: how the model was given, e.g. `"--model_path=m.keras"`.
        inputs: the model's inputs, from `keras_inputs` or `tflite_inputs`.
        bundle: the loaded --dataset bundle.
        dataset: the --dataset value.

    Raises:
        app.UsageError: (one line) naming both shapes and the flags that
            choose the data, when the model has one input whose known
            dimensions differ from the bundle's examples.
    """
    if len(inputs) != 1:
        return
    shape, data = inputs[0][0], tuple(bundle.input_shape)
    fits = len(shape) == len(data) and all(
        d is None or d == e for d, e in zip(shape, data)
    )
    if not fits:
        raise app.UsageError(
            f"{model_flag} takes {_text(shape)} inputs but "
            f"--dataset={dataset} gives {_text(data)} images: pass "
            "--dataset=<folder or name> (and --image_size=HEIGHTxWIDTH) "
            "matching the model."
        )


def check_teacher_fits(model_flag, model, bundle, dataset):
    """Raises a usage error when a Keras teacher cannot take `bundle`.

    Args:
        model_flag: how the model was given, e.g. `"--teacher_path=m.keras"`.
        model: the loaded Keras model.
        bundle: the loaded --dataset bundle.
        dataset: the --dataset value.

    Raises:
        app.UsageError: (one line) for images of another shape than the
            model takes (see `check_input_shape`), or more classes in the
            data than the model's output has units.
    """
    check_input_shape(
        model_flag, stored_values.keras_inputs(model), bundle, dataset
    )
    outputs = getattr(model, "outputs", None) or []
    width = outputs[0].shape[-1] if len(outputs) == 1 else None
    classes = bundle.num_classes
    if width and width > 1 and classes and classes > width:
        raise app.UsageError(
            f"{model_flag} has {width} output units but --dataset={dataset} "
            f"holds {classes} classes: pass the --dataset the model was "
            "trained on, or a model with one output unit per class."
        )
