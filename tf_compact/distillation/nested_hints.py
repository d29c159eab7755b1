"""What to tell a user whose layers sit inside a nested model: the outer
model reaches only the nested model's output, and a flat copy of the
same function reaches every layer."""

import keras

from tf_compact.internal.keras_compat import leaf_layers

_FLAT_COPY = (
    "distill a flat copy (`tfc.lighten.width(model, 1.0)` is the same "
    "function with nested models opened up)"
)


def _nested_models(model):
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


def for_layer(model, layer_name):
    """A sentence saying which nested model of `model` holds `layer_name`
    and how to reach it, or `""` when none does.

    Example:

    ```python
    hint = for_layer(model, "block_6_expand_relu")
    ```
    """
    for outer in _nested_models(model):
        if layer_name in {inner.name for inner in leaf_layers(outer)}:
            return (
                f" Layer {layer_name!r} is inside the nested model "
                f"{outer.name!r}, which hides it: name {outer.name!r}, or "
                f"{_FLAT_COPY}."
            )
    return ""


def for_auto_pairs(teacher, student):
    """A sentence naming the nested models whose inner layers automatic
    pairing cannot see, or `""` when there are none.

    Example:

    ```python
    hint = for_auto_pairs(teacher, student)
    ```
    """
    nested = [
        f"{layer.name!r} of the {role}"
        for role, model in (("teacher", teacher), ("student", student))
        for layer in _nested_models(model)
    ]
    if not nested:
        return ""
    return (
        f" The layers inside {', '.join(nested)} are hidden from the outer "
        f"model: {_FLAT_COPY}."
    )
