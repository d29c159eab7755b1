"""slim: a physically smaller copy of a model, channels removed."""

import keras
import numpy as np

from tf_compact.graph.errors import GraphError
from tf_compact.graph.handler import weight_keys
from tf_compact.graph.registry import get_handler
from tf_compact.graph.walk import functional_of
from tf_compact.internal import keras_compat
from tf_compact.surgery.common import bindings_by_layer
from tf_compact.surgery.common import copy_lora_alpha
from tf_compact.surgery.common import resolve_graph


def slim(model, masks, graph=None):
    """Returns a new model with the masked channels physically removed.

    The new model is rebuilt layer by layer from edited configs (fewer
    filters or units), in topological order, and the kept weights are
    copied: kernel columns and rows, biases, normalization statistics,
    depthwise and pointwise kernels, Dense rows after `Flatten`, offsets
    inside concatenations. Layer names and dtype policies are kept. Nested
    models are opened up: the result is one flat Functional model. The
    input model is never changed.

    Function preservation: `slim(model, masks)(x, training=False)` equals
    `apply_masks(model, masks)(x, training=False)` up to float rounding
    (in inference mode: augmentation and dropout layers are kept and act
    only in training).

    Args:
        model: A Sequential or Functional `keras.Model`.
        masks: Dict `{group name: boolean array of group.size}`; `True`
            keeps a channel. Groups left out keep all their channels.
        graph: The `ChannelGraph` of `model`, when already built. Defaults
            to `None` (built here).

    Returns:
        A new Functional `keras.Model`, not compiled.

    Raises:
        MaskError: If `masks` does not fit the graph's groups.
        GraphError: If the model cannot be analysed.
        UnsupportedLayerError: If a layer has no handler.

    Example:

    ```python
    graph = tfc.ChannelGraph(model)
    masks = {g.name: np.arange(g.size) % 2 == 0 for g in graph.groups}
    small = tfc.slim(model, masks, graph=graph)
    ```
    """
    graph = resolve_graph(model, graph)
    keep = graph.keep_elements(masks)
    binds = bindings_by_layer(graph)
    flat = graph.flat
    functional = functional_of(model)
    new = {}
    inputs = []
    for key, t in zip(flat.input_keys, flat.input_tensors):
        x = keras.Input(
            batch_shape=t.shape,
            dtype=t.dtype,
            name=t._keras_history.operation.name,
        )
        new[key] = x
        inputs.append(x)
    for node in flat.nodes:
        _rebuild_node(node, graph, keep, new, binds.get(node.name, ()))
    outputs = [new[k] for k in flat.output_keys]
    slimmed = keras.Model(
        keras.tree.pack_sequence_as(functional._inputs_struct, inputs),
        keras.tree.pack_sequence_as(functional._outputs_struct, outputs),
        name=model.name,
    )
    return keras_compat.finalize_states(slimmed)


def _rebuild_node(node, graph, keep, new, binds):
    in_keep = [keep[graph.spaces[k]] for k in node.inputs]
    out_keep = [keep[graph.spaces[k]] for k in node.outputs]
    dims = {n: keep[s] for n, s in graph.dims.get(node.name, {}).items()}
    layer = _new_layer(node, in_keep, out_keep, dims)
    lookup = {
        id(t): new[graph.flat.keys[id(t)]] for t in node.node.input_tensors
    }
    args, kwargs = node.node.arguments.fill_in(lookup)
    has_weights = bool(getattr(node.layer, "weights", None))
    if has_weights and isinstance(layer, keras.layers.Layer):
        # Variables are created uninitialized and filled from the kept
        # weights directly, skipping the random initializers.
        with keras.StatelessScope(initialize_variables=False):
            outs = layer(*args, **kwargs)
    else:
        outs = layer(*args, **kwargs)
    outs = keras.tree.flatten(outs)
    for key, out in zip(node.outputs, outs):
        new[key] = out
    if has_weights:
        _copy_weights(node, layer, keep, binds)
    copy_lora_alpha(node.layer, layer)


def _new_layer(node, in_keep, out_keep, dims=None):
    old = node.layer
    if not isinstance(old, keras.layers.Layer):
        try:
            return type(old).from_config(old.get_config())
        except Exception:
            return old
    config = old.get_config()
    if not all(k.all() for k in in_keep + out_keep):
        handler = get_handler(old)
        config = handler.slim_config(old, dict(config), in_keep, out_keep)
    if dims and not all(k.all() for k in dims.values()):
        config = get_handler(old).slim_dims(old, dict(config), dims)
    config["name"] = node.name
    config.pop("build_config", None)
    return type(old).from_config(config)


def _copy_weights(node, layer, keep, binds):
    old_vars, new_vars = node.layer.weights, layer.weights
    if len(old_vars) != len(new_vars):
        raise GraphError(
            f"Rebuilt layer '{node.name}' has {len(new_vars)} weights; the "
            f"original has {len(old_vars)}. Its handler's slim_config does "
            "not match the layer."
        )
    keys = weight_keys(node.layer)
    values = {}
    for old, key in zip(old_vars, keys):
        value = old.numpy()
        for b in binds:
            if b.weight == key:
                kept = keep[b.space]
                if not kept.all():
                    value = np.take(value, np.nonzero(kept)[0], axis=b.axis)
        values[key] = value
    values = get_handler(node.layer).slim_weights(node.layer, layer, values)
    for old, key, var in zip(old_vars, keys, new_vars):
        value = values[key]
        if tuple(var.shape) != value.shape:
            raise GraphError(
                f"Rebuilt layer '{node.name}': weight '{old.name}' has shape "
                f"{tuple(var.shape)} but the kept channels give "
                f"{value.shape}. Its handler's slim_config does not match "
                "its bindings."
            )
        _set_value(var, value)


def _set_value(var, value):
    """Initializes a deferred variable with `value`, or assigns it."""
    if getattr(var, "_value", 0) is not None:
        var.assign(value)
        return
    global_state = keras_compat.global_state_module()
    var._initializer = lambda shape, dtype: value
    var._deferred_initialize()
    pending = global_state.get_global_attribute("uninitialized_variables")
    if pending:
        pending[:] = [v for v in pending if v is not var]
