"""Turning converter failures into messages that name the layer and op."""

import re

from tf_compact.lite.scopes import ScopeResolver

_NOT_SUPPORTED = re.compile(r"'tf\.(\w+)' op is neither a custom op")
_LOCATION = re.compile(r'fused\["(\w+):", "([^"@]+)')


def failing_ops(message, layer_names):
    """Reads `(op, layer)` pairs out of a TFLite converter error message.

    Args:
        message: Text of the converter's exception.
        layer_names: Names of the Keras model's layers.

    Returns:
        A sorted list of `(tf_op_name, layer_name_or_None)` pairs for the ops
        the converter could not lower to TFLite builtins, one pair for each
        layer an op occurs in.

    Example:

    ```python
    failing_ops(str(error), [layer.name for layer in model.layers])
    ```
    """
    ops = set(_NOT_SUPPORTED.findall(message))
    locations = _LOCATION.findall(message)
    resolver = ScopeResolver(
        [path for _, path in locations], list(layer_names), skip_first=False
    )
    pairs = {(op, resolver.layer_of(p)) for op, p in locations if op in ops}
    located = {op for op, layer in pairs if layer}
    pairs = {(op, layer) for op, layer in pairs if layer or op not in located}
    pairs |= {(op, None) for op in ops - {op for op, _ in pairs}}
    return sorted(pairs, key=lambda kv: (kv[0], kv[1] or ""))


def describe_ops(pairs):
    """Formats `(op, layer)` pairs as "`Op` (layer `name`)" text."""
    parts = []
    for op, layer in pairs:
        where = f" (layer `{layer}`)" if layer else ""
        parts.append(f"`{op}`{where}")
    return ", ".join(parts)


def first_line(error, limit=300):
    """Returns the first line of an exception's text, cut to `limit`."""
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line[:limit]
