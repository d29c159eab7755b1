"""The registry that maps layer classes to their channel handlers."""

import inspect

import keras

from tf_compact.graph import handlers_shape
from tf_compact.graph.errors import UnsupportedLayerError
from tf_compact.graph.handler import LayerHandler
from tf_compact.internal import keras_compat

# Filled with the built-in handlers when `tf_compact.graph` is imported
# (`graph/__init__.py`), before any user registration can run.
_HANDLERS = {}


def register_handler(layer_class, handler):
    """Registers how the channel graph treats a layer class.

    Layer knowledge lives only in handlers: built-in layers come registered,
    and custom layers get the same treatment through this function. The
    handler is looked up by exact class first, then along the class's MRO,
    so a subclass of a registered layer uses its parent's handler unless it
    is registered itself.

    Args:
        layer_class: A subclass of `keras.layers.Layer` (or of a Keras
            operation).
        handler: A `LayerHandler` instance or subclass, or one of the
            strings `"passthrough"` (the layer takes one tensor and maps
            each channel to the same channel, with no per-channel weights,
            like an activation) or
            `"fixed"` (the layer is kept as it is: the channels of its inputs
            and outputs are never pruned).

    Returns:
        The handler instance that was registered.

    Raises:
        TypeError: If `layer_class` is not a Keras layer class or `handler`
            is not a handler.

    Example:

    ```python
    class Swish2(keras.layers.Layer):
        def call(self, x):
            return x * keras.ops.sigmoid(2.0 * x)

    tfc.register_handler(Swish2, "passthrough")
    ```
    """
    _validate_layer_class(layer_class)
    handler = _as_handler(handler)
    _HANDLERS[layer_class] = handler
    return handler


def get_handler(layer, shapes=None):
    """Returns the handler for `layer`, or raises `UnsupportedLayerError`.

    Args:
        layer: A Keras layer or operation.
        shapes: Optional pair `(input_shapes, output_shapes)` of the call
            being analysed; it lets the error suggest the right kind of
            handler. Defaults to `None` (read from the layer's first call).

    Example:

    ```python
    handler = tfc.graph.get_handler(keras.layers.ReLU())
    isinstance(handler, tfc.graph.LayerHandler)  # True
    ```
    """
    cls = type(layer)
    if cls in _HANDLERS:
        return _HANDLERS[cls]
    for base in cls.__mro__[1:]:
        if base in _HANDLERS:
            return _HANDLERS[base]
    raise UnsupportedLayerError(_unsupported_message(layer, shapes))


def _call_shapes(layer, shapes):
    if shapes is not None:
        return shapes
    nodes = getattr(layer, "_inbound_nodes", None) or ()
    for node in nodes:
        ins = [tuple(t.shape) for t in node.input_tensors]
        outs = [tuple(t.shape) for t in node.outputs]
        if ins:
            return ins, outs
    return None


def _why_not_passthrough(layer, shapes):
    """Why 'passthrough' cannot describe the layer, or `None` if it may."""
    inner = getattr(layer, "forward_layer", None) or getattr(
        layer, "layer", None
    )
    if isinstance(layer, keras.layers.RNN) or isinstance(
        inner, keras.layers.RNN
    ):
        return "a recurrent layer mixes its input channels at every step"
    shapes = _call_shapes(layer, shapes)
    if shapes is None:
        return None
    ins, outs = shapes
    if len(ins) != 1:
        return f"it takes {len(ins)} input tensors"
    if len(outs) != 1:
        return f"it returns {len(outs)} tensors"
    cin = ins[0][-1] if ins[0] else None
    cout = outs[0][-1] if outs[0] else None
    if cin != cout:
        return f"its output has {cout} channels for {cin} input channels"
    return None


def _unsupported_message(layer, shapes=None):
    cls = type(layer)
    name = getattr(layer, "name", "?")
    text = (
        f"Layer '{name}' of class {cls.__module__}.{cls.__qualname__} has no "
        "channel handler, so the graph cannot tell how it maps channels. "
    )
    if cls.__name__ == "Lambda":
        text += (
            "A Lambda layer is opaque Python code: replace it by a layer "
            "subclass and register a handler for that class. "
        )
    why_not = _why_not_passthrough(layer, shapes)
    fixed = (
        f"`tfc.register_handler({cls.__name__}, 'fixed')` to keep the "
        "channels around it unpruned"
    )
    if why_not is not None:
        return text + (
            f"Register one with {fixed}, or pass a `tfc.graph.LayerHandler` "
            "subclass that relates its input and output channels "
            f"('passthrough' does not fit: {why_not})."
        )
    return text + (
        f"Register one with `tfc.register_handler({cls.__name__}, "
        "'passthrough')` if it maps each channel to itself (one input, "
        f"same channels out), {fixed}, or pass a `tfc.graph.LayerHandler` "
        "subclass for anything else."
    )


def _validate_layer_class(layer_class):
    if not (
        inspect.isclass(layer_class)
        and issubclass(layer_class, keras_compat.Operation)
    ):
        raise TypeError(
            "Invalid value for argument `layer_class`. Expected a subclass "
            f"of keras.layers.Layer. Received: layer_class={layer_class!r}"
        )
    if issubclass(layer_class, keras.Model):
        raise TypeError(
            "Invalid value for argument `layer_class`. Models are opened up "
            "by the graph and take no handler. Received: "
            f"layer_class={layer_class.__name__}"
        )


def _as_handler(handler):
    if isinstance(handler, str):
        named = {
            "passthrough": handlers_shape.PassThroughHandler,
            "fixed": handlers_shape.FixedHandler,
        }
        if handler not in named:
            raise TypeError(
                "Invalid value for argument `handler`. Expected a "
                "LayerHandler or one of 'passthrough', 'fixed'. Received: "
                f"handler={handler!r}"
            )
        return named[handler]()
    if inspect.isclass(handler) and issubclass(handler, LayerHandler):
        return handler()
    if isinstance(handler, LayerHandler):
        return handler
    raise TypeError(
        "Invalid value for argument `handler`. Expected a LayerHandler "
        f"instance or subclass, 'passthrough' or 'fixed'. Received: "
        f"handler={handler!r}"
    )
