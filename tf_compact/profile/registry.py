"""Registry of per-layer cost functions, keyed by layer class.

A cost function receives the layer (or Keras operation) and the shapes of
one call, and returns what that call costs:

```python
def cost_fn(layer, input_shapes, output_shapes):
    return macs                 # an int, or
    return macs, other_ops      # a pair of ints
```

`input_shapes` and `output_shapes` are lists of tuples of ints, one per input
or output tensor, with the batch dimension already set to the profiled batch
size. `macs` counts multiply-accumulates of matrix-like work (convolutions,
dense products); `other_ops` counts the remaining element-wise operations
(normalization, activations, pooling, merges).

Lookup follows the class's method resolution order, so a subclass of
`keras.layers.Conv2D` is costed like a `Conv2D` unless it has its own entry.
"""

import inspect

_REGISTRY = {}


def _validate_layer_cls(layer_cls):
    if not inspect.isclass(layer_cls):
        raise TypeError(
            "Invalid value for argument `layer_cls`. Expected a class "
            f"(such as a `keras.layers.Layer` subclass). "
            f"Received: layer_cls={layer_cls!r}"
        )


def _validate_fn(fn):
    if not callable(fn):
        raise TypeError(
            "Invalid value for argument `fn`. Expected a callable "
            "`fn(layer, input_shapes, output_shapes)`. "
            f"Received: fn={fn!r}"
        )


def register_macs(layer_cls, fn):
    """Registers the cost function used to profile a layer class.

    The function replaces any earlier entry for exactly `layer_cls`;
    subclasses of `layer_cls` use it too unless they have their own entry.

    Args:
        layer_cls: The layer (or `keras.Operation`) class to cost.
        fn: Callable `fn(layer, input_shapes, output_shapes)` returning the
            multiply-accumulates of one call as an `int`, or a pair
            `(macs, other_ops)` of ints. The shapes are lists of tuples of
            ints, batch dimension included.

    Returns:
        `fn`, so that `register_macs` can be used as a decorator through
        `functools.partial`.

    Raises:
        TypeError: If `layer_cls` is not a class or `fn` is not callable.

    Example:

    ```python
    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    def scale_cost(layer, input_shapes, output_shapes):
        return 0, math.prod(output_shapes[0])

    tf_compact.profile.register_macs(Scale, scale_cost)
    ```
    """
    _validate_layer_cls(layer_cls)
    _validate_fn(fn)
    _REGISTRY[layer_cls] = fn
    return fn


def unregister_macs(layer_cls):
    """Removes the cost function registered for exactly `layer_cls`.

    Args:
        layer_cls: The class whose entry to remove.

    Returns:
        The removed function, or `None` when there was no entry.

    Raises:
        TypeError: If `layer_cls` is not a class.

    Example:

    ```python
    tf_compact.profile.unregister_macs(Scale)
    ```
    """
    _validate_layer_cls(layer_cls)
    return _REGISTRY.pop(layer_cls, None)


def get_macs_fn(layer_cls):
    """Returns the cost function for a class, or `None` when it has none.

    Args:
        layer_cls: The class to look up; its base classes are searched in
            method resolution order.

    Returns:
        The registered callable, or `None` when neither the class nor any
        of its bases (other than the generic `Layer`/`Operation` bases) is
        registered.

    Raises:
        TypeError: If `layer_cls` is not a class.

    Example:

    ```python
    fn = tf_compact.profile.get_macs_fn(keras.layers.Conv2D)
    ```
    """
    _validate_layer_cls(layer_cls)
    for cls in inspect.getmro(layer_cls):
        fn = _REGISTRY.get(cls)
        if fn is not None:
            return fn
    return None


def normalize_cost(value, layer_name):
    """Turns a cost function's result into a `(macs, other_ops)` int pair."""
    if isinstance(value, tuple | list) and len(value) == 2:
        macs, other = value
    else:
        macs, other = value, 0
    try:
        return int(macs), int(other)
    except (TypeError, ValueError):
        raise TypeError(
            f"The cost function for layer '{layer_name}' returned an invalid "
            "value. Expected an int or a pair of ints (macs, other_ops). "
            f"Received: {value!r}"
        ) from None
