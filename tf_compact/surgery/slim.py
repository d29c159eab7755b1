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
    models are opened up: the result is one flat Functional model (a
    Sequential comes back Functional). A nested layer whose name another
    layer has is named `<nested model>_<layer>` (`_1`, `_2`, ... added if
    that is taken too), and a layer that gives the model an output
    through a nested model takes that model's name, so `output_names`
    stay the same. The input model is never changed.

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
    names = _output_layer_names(functional, flat)
    for node in flat.nodes:
        name = names.get(node.name, node.name)
        _rebuild_node(node, graph, keep, new, binds.get(node.name, ()), name)
    outputs = [new[k] for k in flat.output_keys]
    slimmed = keras.Model(
        keras.tree.pack_sequence_as(functional._inputs_struct, inputs),
        keras.tree.pack_sequence_as(functional._outputs_struct, outputs),
        name=model.name,
    )
    return keras_compat.finalize_states(slimmed)


def _output_layer_names(functional, flat):
    """`{flat node name: name}` for the layers that produce an output of
    a nested model which is an output of `model`: each takes the nested
    model's name, so the slim model's `output_names` (and a `compile`
    keyed by them) stay those of the model. Left out where the name is
    another layer's or the layer produces several outputs."""
    producers = {k: n for n in flat.nodes for k in n.outputs}
    taken = {n.name for n in flat.nodes}
    taken |= {t._keras_history.operation.name for t in flat.input_tensors}
    names = {}
    for tensor, key in zip(functional.outputs, flat.output_keys):
        wanted = tensor._keras_history.operation.name
        node = producers.get(key)
        if (
            node is None
            or node.name == wanted
            or wanted in taken
            or len(node.outputs) != 1
            or node.name in names
        ):
            continue
        names[node.name] = wanted
        taken.add(wanted)
    return names


def _rebuild_node(node, graph, keep, new, binds, name):
    in_keep = [keep[graph.spaces[k]] for k in node.inputs]
    out_keep = [keep[graph.spaces[k]] for k in node.outputs]
    dims = {n: keep[s] for n, s in graph.dims.get(node.name, {}).items()}
    layer = new_layer(node, in_keep, out_keep, dims, name)
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


def new_layer(node, in_keep, out_keep, dims, name):
    """A new layer like `node`'s, named `name`, with the kept elements of
    its inputs, outputs and inner dimensions (`dims`); weights unset."""
    old = node.layer
    if not isinstance(old, keras.layers.Layer):
        try:
            return type(old).from_config(old.get_config())
        except Exception:  # noqa: BLE001 - an op without config is reused
            return old
    config = old.get_config()
    if not all(k.all() for k in in_keep + out_keep):
        handler = get_handler(old)
        config = handler.slim_config(old, dict(config), in_keep, out_keep)
    if dims and not all(k.all() for k in dims.values()):
        config = get_handler(old).slim_dims(old, dict(config), dims)
    config["name"] = name
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
