"""The input values a `.tflite` model was quantized for.

An int8 or uint8 model records the float range of every input it was
calibrated on: in the input's own quantization (integer inputs) or in the
`QUANTIZE` op that converts a float input. A model calibrated on raw
pixels (0 to 255, e.g. one whose Keras model starts with
`Rescaling(1 / 255)`) spans about 255; one calibrated on pixels divided
by 255 spans about 1. Data at the other scale give a wrong accuracy with
no error: `warn_if_off_scale` says so.
"""

import numpy as np

from tf_compact.internal.user_warning import warn
from tf_compact.lite.edgetpu_graph import is_compiled_for_edgetpu
from tf_compact.lite.runtime import make_interpreter

#: An input quantized for a span of float values wider than this takes
#: raw pixel values (0 to 255), not pixels divided by 255.
RAW_SPAN_ABOVE = 20.0
#: Data reaching under this share of the input's span are taken to be at
#: another scale (raw pixels reach most of it).
OFF_SCALE_BELOW = 0.05
#: Steps between the smallest and largest value of each integer type.
_LEVELS = {"int8": 255, "uint8": 255, "int16": 65535}


def quantized_span(type_name, scales):
    """The span of float values a quantized tensor covers: its largest
    scale times its type's steps; `None` for a float or unscaled one.

    Args:
        type_name: The tensor type, e.g. `"int8"` or `"INT16"`.
        scales: Its quantization scales (one per channel or one), or
            `None`.

    Example:

    ```python
    quantized_span("uint8", [1.0])  # 255.0: raw pixels
    ```
    """
    levels = _LEVELS.get(str(type_name).lower())
    scales = np.asarray([] if scales is None else scales, float).ravel()
    if levels is None or not scales.size or not np.any(scales > 0):
        return None
    return float(scales.max()) * levels


def _span(detail):
    scales = detail["quantization_parameters"]["scales"]
    return quantized_span(np.dtype(detail["dtype"]).name, scales)


def input_spans(interpreter):
    """Per input (in `get_input_details` order): the span of float values
    it was quantized for, or `None` for a float model.

    Args:
        interpreter: An allocated interpreter (`make_interpreter`).

    Example:

    ```python
    interpreter, _ = tfc.lite.make_interpreter(int8_tflite)
    input_spans(interpreter)  # e.g. [255.0]: raw pixels
    ```
    """
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    try:
        ops = interpreter._get_ops_details()
    except (AttributeError, ValueError, RuntimeError):
        ops = []
    spans = []
    for detail in interpreter.get_input_details():
        span = _span(detail)
        for op in ops if span is None else []:
            inputs = list(op.get("inputs", []))
            if op.get("op_name") == "QUANTIZE" and inputs[:1] == [
                detail["index"]
            ]:
                span = _span(tensors[int(op["outputs"][0])])
                break
        spans.append(span)
    return spans


def file_input_spans(content):
    """`input_spans` of a `.tflite` model given as bytes, or `None` when
    no interpreter can be built for it here (a file compiled for the Edge
    TPU needs its delegate).

    Example:

    ```python
    file_input_spans(int8_tflite)  # e.g. [255.0]
    ```
    """
    if is_compiled_for_edgetpu(content):
        return None
    try:
        interpreter, _ = make_interpreter(bytes(content))
    except (ValueError, RuntimeError):
        return None
    return input_spans(interpreter)


def warn_if_off_scale(interpreter, x):
    """Warns when a single-input model quantized for raw pixel values
    (span over `RAW_SPAN_ABOVE`) is given data under `OFF_SCALE_BELOW` of
    that span: pixels divided by 255 already.

    Args:
        interpreter: The model's interpreter.
        x: Its first batch of inputs.

    Example:

    ```python
    warn_if_off_scale(interpreter, x_test[:32] / 255.0)
    ```
    """
    spans = input_spans(interpreter)
    if len(spans) != 1 or spans[0] is None or spans[0] <= RAW_SPAN_ABOVE:
        return
    if isinstance(x, (dict, list, tuple)):
        return
    largest = float(np.max(np.abs(np.asarray(x, dtype=float)), initial=0))
    if largest == 0 or largest >= OFF_SCALE_BELOW * spans[0]:
        return
    warn(
        f"tfc.lite: the model's input was quantized for values spanning "
        f"about {spans[0]:.4g} (raw pixels), but the data reach at most "
        f"{largest:.3g}: they look divided already, and the accuracy "
        "measured on them means little. Pass the data as the model was "
        "calibrated on them (e.g. pixels not divided by 255)."
    )
