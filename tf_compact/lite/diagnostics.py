"""Turning converter failures into messages that name the layer and op."""

import re

_NOT_SUPPORTED = re.compile(r"'tf\.(\w+)' op is neither a custom op")
_LOCATION = re.compile(r'fused\["(\w+):", "([^"@]+)')
_SCOPE_SUFFIX = re.compile(r"_\d+$")


def _layer_in_path(path, layer_names):
    for part in path.split("/")[:-1]:
        for candidate in (part, _SCOPE_SUFFIX.sub("", part)):
            if candidate in layer_names:
                return candidate
    return None


def failing_ops(message, layer_names):
    """Reads `(op, layer)` pairs out of a TFLite converter error message.

    Args:
        message: Text of the converter's exception.
        layer_names: Names of the Keras model's layers.

    Returns:
        A sorted list of `(tf_op_name, layer_name_or_None)` pairs for the ops
        the converter could not lower to TFLite builtins.

    Example:

    ```python
    failing_ops(str(error), [layer.name for layer in model.layers])
    ```
    """
    ops = set(_NOT_SUPPORTED.findall(message))
    found = {}
    for op, path in _LOCATION.findall(message):
        if op in ops and found.get(op) is None:
            found[op] = _layer_in_path(path, set(layer_names))
    for op in ops:
        found.setdefault(op, None)
    return sorted(found.items(), key=lambda kv: kv[0])


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
