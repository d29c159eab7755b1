"""The cost of one layer call from its shapes: the profiler's cost model.

`tf_compact.profile` sums these over a model's calls, and the slimming cost
estimate evaluates them at the channel counts a mask keeps, so both count
the same way.
"""

from tf_compact.profile import layer_costs  # noqa: F401 - registers costs
from tf_compact.profile import op_costs  # noqa: F401 - registers costs
from tf_compact.profile.registry import get_macs_fn
from tf_compact.profile.registry import normalize_cost


def has_cost_function(layer):
    """Whether a cost function is registered for `layer`'s class."""
    return get_macs_fn(type(layer)) is not None


def call_cost(layer, input_shapes, output_shapes, name=None, dims=None):
    """`(macs, other_ops)` of one call of `layer` at the given shapes.

    Args:
        layer: The Keras layer or operation.
        input_shapes: One tuple of ints per input, batch axis included, in
            the order of the layer's `call` parameters.
        output_shapes: One tuple of ints per output.
        name: Name used in error messages. Defaults to the layer name.
        dims: Optional dict of inner sizes of the layer that differ from
            its weights' (`num_heads`, `key_dim`, ... of an attention layer
            being slimmed), passed to the cost function as `dims=`.
            Defaults to `None`.

    Returns:
        A pair of ints.

    Raises:
        LookupError: If the layer's class has no cost function.
        Exception: Whatever the cost function raises.

    Example:

    ```python
    macs, ops = call_cost(conv, [(1, 8, 8, 3)], [(1, 8, 8, 4)])
    ```
    """
    fn = get_macs_fn(type(layer))
    if fn is None:
        raise LookupError(
            f"No cost function for layer '{getattr(layer, 'name', layer)}' "
            f"({type(layer).__name__})."
        )
    if dims:
        raw = fn(layer, list(input_shapes), list(output_shapes), dims=dims)
    else:
        raw = fn(layer, list(input_shapes), list(output_shapes))
    return normalize_cost(raw, name or getattr(layer, "name", "?"))
