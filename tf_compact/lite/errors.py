"""Exceptions raised by `tf_compact.lite`."""


class ConversionError(RuntimeError):
    """Raised when a model cannot be converted to TFLite as asked.

    The message names the mode, the layer and the op at fault when they can
    be recovered from the converter's diagnostics or from the converted
    model.

    Example:

    ```python
    try:
        tfc.lite.convert(model, mode="int8", representative_data=x)
    except tfc.lite.ConversionError as e:
        print(e)
    ```
    """


class QuantizationError(ConversionError):
    """Raised when ops of a model cannot be quantized to full int8.

    Args:
        message: What went wrong.
        ops: List of `(op_name, layer_name)` pairs that stayed in float.
            Defaults to `()`.

    Example:

    ```python
    try:
        tfc.lite.convert(model, mode="int8", representative_data=x)
    except tfc.lite.QuantizationError as e:
        print(e.ops)
    ```
    """

    def __init__(self, message, ops=()):
        super().__init__(message)
        self.ops = list(ops)


class RuntimeUnavailableError(RuntimeError):
    """Raised when the requested TFLite interpreter runtime cannot run.

    Args:
        message: What went wrong.
        attempts: Dict mapping each runtime tried to why it failed.
            Defaults to `None`.

    Example:

    ```python
    try:
        tfc.lite.benchmark(tflite, runtime="tflite_runtime")
    except tfc.lite.RuntimeUnavailableError as e:
        print(e.attempts)
    ```
    """

    def __init__(self, message, attempts=None):
        super().__init__(message)
        self.attempts = dict(attempts or {})


class BridgeError(ValueError):
    """Raised when a Keras 3 model cannot be cloned into `tf_keras`.

    The message names the layer (and its class) that has no `tf_keras`
    counterpart or whose weights do not fit.

    Example:

    ```python
    try:
        tfc.lite.to_tf_keras(model)
    except tfc.lite.BridgeError as e:
        print(e)
    ```
    """
