"""apply_masks: the reference for slim, with channels zeroed in place."""

import numpy as np

from tf_compact.graph.errors import GraphError
from tf_compact.graph.handler import find_weight
from tf_compact.internal import keras_compat
from tf_compact.surgery.common import copy_lora_alpha
from tf_compact.surgery.common import resolve_graph


def apply_masks(model, masks, graph=None):
    """Returns a copy of `model` whose masked channels are zeroed.

    The copy has the same architecture (nesting included) and weights,
    except that for every removed channel:

    - producer weights (kernel columns, bias) and per-channel weights of
      the layers it passes through (BN/GN γ and β, PReLU α, layer scales,
      depthwise kernels) are set to 0, LoRA factors included (the
      `lora_kernel_b` column of a removed output, so the effective kernel
      `kernel + lora_kernel_a @ lora_kernel_b` is 0 there), so the
      channel is 0 wherever a producer or a norm layer sets it;
    - consumer weights reading it (kernel input slices, Dense rows after
      `Flatten`) are set to 0, so whatever value the channel still has
      downstream (a BN moving mean, `sigmoid(0)` in an SE gate, a constant
      added by an operation) reaches no later layer.

    Together these make the copy compute exactly what `slim` computes:
    a removed channel contributes nothing anywhere. Moving statistics are
    left unchanged.

    Args:
        model: A Sequential or Functional `keras.Model`.
        masks: Dict `{group name: boolean array of group.size}`.
        graph: The `ChannelGraph` of `model`. Defaults to `None` (built
            here).

    Returns:
        A new `keras.Model` (a clone), not compiled.

    Raises:
        MaskError: If `masks` does not fit the graph's groups.

    Example:

    ```python
    reference = tfc.apply_masks(model, masks)
    small = tfc.slim(model, masks)
    np.testing.assert_allclose(
        reference(x, training=False), small(x, training=False), atol=1e-5
    )
    ```
    """
    graph = resolve_graph(model, graph)
    keep = graph.keep_elements(masks)
    values = masked_values(graph, keep)
    clone = keras_compat.clone_model(model)
    old_vars, new_vars = model.weights, clone.weights
    if len(old_vars) != len(new_vars):
        raise GraphError(
            f"The clone of '{model.name}' has {len(new_vars)} weights; the "
            f"model has {len(old_vars)}."
        )
    for old, new in zip(old_vars, new_vars):
        new.assign(values.get(id(old), old))
    old_layers = list(model._flatten_layers(include_self=False))
    new_layers = list(clone._flatten_layers(include_self=False))
    for old, new in zip(old_layers, new_layers):
        copy_lora_alpha(old, new)
    return keras_compat.finalize_states(clone)


def masked_values(graph, keep):
    """The model's weights with the removed channels set to zero.

    Args:
        graph: The `ChannelGraph` of the model.
        keep: `{space: boolean array}` of kept elements, as
            `graph.keep_elements(masks)` returns.

    Returns:
        `{id(variable): array}` for every variable a removed channel
        touches, the array a copy of its value with those channels zeroed
        (batch-norm statistics left as they are).

    Example:

    ```python
    values = masked_values(graph, graph.keep_elements(masks))
    ```
    """
    layers = {n.name: n.layer for n in graph.flat.nodes}
    values = {}
    for b in graph.bindings:
        removed = np.nonzero(~keep[b.space])[0]
        if b.role == "stat" or not len(removed):
            continue
        var = find_weight(layers[b.node_name], b.weight)
        if id(var) not in values:
            values[id(var)] = np.array(var.numpy())
        index = [slice(None)] * len(var.shape)
        index[b.axis] = removed
        values[id(var)][tuple(index)] = 0
    return values
