"""What a converted file does not do that its `mode` and `inference_io`
suggest: dynamic-range files whose weights all stayed in float, and
integer model inputs that keep their own type."""

from tf_compact.internal.user_warning import warn
from tf_compact.lite.ops import read_ops
from tf_compact.lite.verification import input_dtypes

#: TFLite's dynamic-range quantization leaves weight tensors with fewer
#: elements than this in float.
DYNAMIC_MIN_ELEMENTS = 1024


def mode_notes(content, model, mode, inference_io):
    """Returns the notes on what the file `content`, converted from `model`
    with `mode` and `inference_io`, does not do that they suggest (the
    dynamic-mode one also warns).

    Example:

    ```python
    notes = mode_notes(bytes(result), model, "int8", "int8")
    ```
    """
    notes = integer_input_notes(model, inference_io)
    if mode == "dynamic":
        notes += [n for n in [dynamic_float_note(content, model)] if n]
    return notes


def dynamic_float_note(content, model):
    """Returns a note (and warns) when a `mode="dynamic"` file kept every
    weight in float, else `None`.

    TFLite quantizes a weight tensor in dynamic-range mode only from
    `DYNAMIC_MIN_ELEMENTS` elements on; a model whose layers are all
    smaller gets a float32 file under the name of an int8 one.

    Example:

    ```python
    note = dynamic_float_note(bytes(result), model)
    ```
    """
    ops = read_ops(content)
    if any("int8" in op.input_dtypes for op in ops):
        return None
    text = (
        f"mode='dynamic' kept every weight of model {model.name!r} in "
        "float32: TFLite quantizes a weight tensor in this mode only from "
        f"{DYNAMIC_MIN_ELEMENTS} elements on, and every layer of this "
        "model is smaller, so the file is as large and as fast as a "
        "float32 one. Use mode='int8' (with representative_data) for int8 "
        "weights, or mode='float16' to halve the size"
    )
    warn(text + ".")
    return text


def integer_input_notes(model, inference_io):
    """Returns one note per integer input of `model` whose type differs
    from the integer `inference_io` asked for: the converter keeps the
    Keras input's own type (e.g. `uint8` images) and applies
    `inference_io` to float inputs only.

    Example:

    ```python
    notes = integer_input_notes(model, "int8")
    ```
    """
    if inference_io not in ("int8", "uint8"):
        return []
    dtypes = input_dtypes(model) or []
    notes = []
    for tensor, dtype in zip(model.inputs, dtypes):
        if dtype.kind in "iu" and dtype.name != inference_io:
            notes.append(
                f"input {tensor.name!r} is {dtype.name} in the Keras model "
                f"and keeps that type in the file: inference_io="
                f"{inference_io!r} applies to float inputs only (the "
                "outputs follow it)"
            )
    return notes
