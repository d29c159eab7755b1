"""`profile()`: per-layer and total costs of a Keras model."""

import math

import keras

from tf_compact.internal import keras_compat
from tf_compact.internal.user_warning import warn
from tf_compact.profile import call_cost
from tf_compact.profile import graph_walk
from tf_compact.profile import memory
from tf_compact.profile import subclassed
from tf_compact.profile.layer_profile import LayerProfile
from tf_compact.profile.model_profile import ModelProfile


def _validate_model(model):
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Invalid value for argument `model`. Expected a `keras.Model`. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )
    if isinstance(model, keras.Sequential) and model._functional is None:
        raise ValueError(
            f"The Sequential model '{model.name}' is not built, so its "
            "shapes are unknown. Start it with `keras.Input(shape)` or call "
            "`model.build(input_shape)` before profiling. "
            f"Received: model.built={model.built}"
        )
    if not model.built:
        raise ValueError(
            f"The model '{model.name}' is not built, so its shapes are "
            "unknown. Call it on data or `model.build(input_shape)` before "
            f"profiling. Received: model.built={model.built}"
        )


def _validate_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(
            "Invalid value for argument `batch_size`. Expected a positive "
            f"int. Received: batch_size={batch_size!r}"
        )
    if batch_size < 1:
        raise ValueError(
            "Invalid value for argument `batch_size`. Expected a positive "
            f"int. Received: batch_size={batch_size}"
        )


def _input_specs(model, input_shape, batch_size):
    """Turns `input_shape` (without batch) into one spec per model input."""
    refs = keras.tree.flatten(model.inputs)
    shapes = input_shape
    if shapes and all(d is None or isinstance(d, int) for d in shapes):
        shapes = [shapes]
    ok = isinstance(shapes, list | tuple) and len(shapes) == len(refs)
    ok = ok and all(
        isinstance(s, list | tuple)
        and len(s) == len(ref.shape) - 1
        and all(isinstance(d, int) and d > 0 for d in s)
        for s, ref in zip(shapes, refs)
    )
    if not ok:
        expected = [tuple(ref.shape[1:]) for ref in refs]
        raise ValueError(
            "Invalid value for argument `input_shape`. Expected one shape "
            f"without the batch dimension per model input, like {expected}, "
            f"with positive ints. Received: input_shape={input_shape!r}"
        )
    return [
        graph_walk.TensorSpec((batch_size,) + tuple(s), str(ref.dtype))
        for s, ref in zip(shapes, refs)
    ]


def _trace(model, batch_size, input_shape):
    if keras_compat.functional_graph(model) is None:
        if input_shape is not None:
            raise ValueError(
                "Argument `input_shape` needs a Functional or Sequential "
                f"model; '{model.name}' is subclassed. "
                f"Received: input_shape={input_shape!r}"
            )
        trace = subclassed.trace_subclassed(model, batch_size)
        trace.notes.insert(
            0,
            f"Model '{model.name}' is subclassed: it has no stored graph, so "
            "each layer is counted once with the input shape it was built "
            "with. Repeated calls and operations written in `call()` are "
            "not counted; use a Functional or Sequential model for exact "
            "figures.",
        )
        return trace
    specs = None
    if input_shape is not None:
        functional = keras_compat.functional_graph(model)
        specs = _input_specs(functional, input_shape, batch_size)
    return graph_walk.trace_functional(
        model, batch_size, specs, walker_cls=subclassed.Walker
    )


def _cost(call):
    """`(macs, other_ops, reason)`; `reason` says why the cost is unknown."""
    layer = call.layer
    shapes_known = all(
        d is not None for spec in call.inputs + call.outputs for d in spec.shape
    )
    if not call_cost.has_cost_function(layer):
        return 0, 0, "no cost function"
    if not call.inputs and not call.outputs:
        return 0, 0, "no shapes were recorded for it"
    if not shapes_known or not call.outputs:
        return (
            0,
            0,
            "its shapes are not fully known "
            f"({[s.shape for s in call.inputs]} -> "
            f"{[s.shape for s in call.outputs]}); pass `input_shape` to "
            "`profile` to resolve them",
        )
    try:
        macs, other = call_cost.call_cost(
            layer,
            [s.shape for s in call.inputs],
            [s.shape for s in call.outputs],
            name=call.path,
        )
    except Exception as e:  # noqa: BLE001 - never crash on one layer
        return 0, 0, f"its cost function failed with {type(e).__name__}: {e}"
    return macs, other, None


def _weights_once(layer, seen):
    sizes = {"trainable": 0, "all": 0}
    trainable_ids = {id(w) for w in getattr(layer, "trainable_weights", [])}
    for weight in getattr(layer, "weights", []):
        if id(weight) in seen:
            continue
        seen.add(id(weight))
        size = math.prod(weight.shape)
        sizes["all"] += size
        if id(weight) in trainable_ids:
            sizes["trainable"] += size
    return sizes["all"], sizes["trainable"]


def _row(call, seen_weights):
    macs, other, reason = _cost(call)
    params, trainable = _weights_once(call.layer, seen_weights)
    shapes = [spec.shape for spec in call.outputs]
    return reason, LayerProfile(
        name=call.layer.name,
        class_name=type(call.layer).__name__,
        output_shape=shapes[0] if len(shapes) == 1 else tuple(shapes),
        macs=macs,
        params=params,
        trainable_params=trainable,
        activation_bytes=sum(memory.tensor_bytes(s) for s in call.outputs),
        path=call.path,
        other_ops=other,
        call_index=call.call_index,
    )


def _count(weights):
    unique = {id(w): w for w in weights}
    return sum(math.prod(w.shape) for w in unique.values())


def _unknown_note(unknown):
    names = "; ".join(
        f"'{path}' ({cls}): {reason}" for path, cls, reason in unknown
    )
    return (
        f"cost unknown for {names}. Such layers are counted as 0 MACs and "
        "listed in `unknown_layers`; register a cost function with "
        "`tf_compact.profile.register_macs(layer_cls, fn)`."
    )


def _warn(notes):
    for note in notes:
        warn(f"tf_compact.profile: {note}")


def profile(model, batch_size=1, input_shape=None):
    """Counts MACs, parameters and activation memory of a Keras model.

    Nothing is executed: shapes come from the graph Keras stored when the
    model was built. Nested models are flattened and every call of a shared
    layer is its own row. Layers whose cost cannot be counted (no cost
    function, shapes not fully known, a failing cost function) count as 0
    MACs, are listed in `unknown_layers` and named, with their class, in
    one warning. A subclassed model (or a custom layer with
    sublayers) gets a best-effort profile, each sublayer once at the shape
    it was built with, and a warning. Fast enough to call from a training
    callback (milliseconds for ResNet50). See the `tf_compact.profile`
    package docstring for the counting conventions.

    Args:
        model: A built `keras.Model` (Functional, Sequential or
            subclassed). It is not modified.
        batch_size: Value used where the batch dimension is unknown (as
            it is for `keras.Input`); MACs, operations and activation sizes
            scale with it. Defaults to `1`.
        input_shape: Optional input shape without the batch dimension (a
            list of shapes for several inputs) that replaces the stored
            one, e.g. to resolve `None` spatial dimensions. Defaults to
            `None` (use the model's own input shapes).

    Returns:
        A `ModelProfile`.

    Raises:
        TypeError: If `model` is not a `keras.Model` or `batch_size` is not
            an int.
        ValueError: If the model is not built, `batch_size` is not
            positive, or `input_shape` does not match the model's inputs.

    Example:

    ```python
    model = keras.applications.MobileNetV2(weights=None)
    prof = tfc.profile(model)
    prof.macs                 # about 300M multiply-accumulates
    prof.params == model.count_params()   # True
    print(prof.table())
    ```
    """
    _validate_model(model)
    _validate_batch_size(batch_size)
    trace = _trace(model, batch_size, input_shape)
    notes = list(trace.notes)
    seen_weights = set()
    rows, unknown = [], []
    for call in trace.calls:
        if not call.is_row:
            continue
        reason, row = _row(call, seen_weights)
        if reason is not None:
            unknown.append((row.path, row.class_name, reason))
        rows.append(row)
    if unknown:
        notes.insert(0, _unknown_note(unknown))
    _warn(notes)
    return ModelProfile(
        name=model.name,
        layers=rows,
        trainable_params=_count(model.trainable_weights),
        non_trainable_params=_count(model.non_trainable_weights),
        peak_activation_bytes=memory.peak_bytes(trace),
        batch_size=batch_size,
        unknown_layers=[path for path, _, _ in unknown],
        notes=notes,
    )
