"""A float32 copy of a model built under a mixed-precision policy.

Under `keras.mixed_precision.set_global_policy("mixed_float16")` (or
`"mixed_bfloat16"`) layers keep float32 weights but compute in float16 or
bfloat16, and the TFLite converter has no builtin kernel for most of those
ops (`Conv2D`, `MatMul`, `BiasAdd`, ... in bfloat16). `convert` converts a
clone whose layers all compute in float32, with the same weights; TFLite's
own `mode="float16"` then decides what is stored in half precision.
"""

import contextlib

import keras

from tf_compact.internal import keras_compat

FLOAT32 = "float32"
REDUCED = ("float16", "bfloat16")


def _compute_dtypes(model):
    """Names of the non-float32 floating compute dtypes of `model`."""
    found = set()
    for layer in model._flatten_layers(include_self=True):
        dtype = getattr(layer, "compute_dtype", None)
        if dtype in REDUCED:
            found.add(dtype)
    return found


def _policy_name(model):
    policies = {
        layer.dtype_policy.name
        for layer in model._flatten_layers(include_self=True)
        if getattr(layer, "compute_dtype", None) in REDUCED
        and hasattr(layer, "dtype_policy")
    }
    return ", ".join(sorted(policies))


@contextlib.contextmanager
def _float32_global_policy():
    """Layers made inside (sublayers built without a dtype) get float32."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(FLOAT32)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _clone_layer(layer):
    config = layer.get_config()
    if "dtype" in config:
        config["dtype"] = FLOAT32
    return layer.__class__.from_config(config)


def _float32_clone(model):
    with _float32_global_policy():
        clone = keras_compat.clone_model(
            model, clone_function=_clone_layer, recursive=True
        )
    old, new = model.weights, clone.weights
    if [tuple(v.shape) for v in old] != [tuple(v.shape) for v in new]:
        raise ValueError("the clone's weights differ from the model's")
    for source, target in zip(old, new):
        target.assign(keras.ops.cast(source, target.dtype))
    clone.name = model.name
    return keras_compat.finalize_states(clone)


def float32_model(model):
    """Returns `(model, note)`: `model`, or its float32 clone and a note.

    A Keras 3 Sequential or Functional model (nested models included) any
    of whose layers computes in float16 or bfloat16 is cloned with
    every layer's dtype policy set to `"float32"` and its weights copied
    (cast to float32); the clone keeps the model's and the layers' names.
    Other models are returned as they are, with the note `None`. `model`
    is never changed, nor is the global dtype policy.

    Args:
        model: A built Keras model.

    Returns:
        `(model_to_convert, note)`, the note a string saying what was done
        or `None`.

    Raises:
        ValueError: If the model computes in reduced precision but cannot
            be cloned (a subclassed model): the message says to rebuild it
            under the float32 policy.

    Example:

    ```python
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = build_model()
    clone, note = float32_model(model)
    ```
    """
    if not isinstance(model, keras.Model):
        return model, None
    dtypes = _compute_dtypes(model)
    if not dtypes:
        return model, None
    policy = _policy_name(model)
    try:
        clone = _float32_clone(model)
    except Exception as e:  # noqa: BLE001 - any clone failure, named below
        raise ValueError(
            f"Invalid value for argument `model`. Model {model.name!r} "
            f"computes in {sorted(dtypes)} (dtype policy {policy}), which "
            "TFLite cannot convert, and converting a float32 copy failed: "
            f"{type(e).__name__}: {e}. Build the model under "
            "`keras.mixed_precision.set_global_policy('float32')`, load its "
            "weights, and convert that."
        ) from e
    note = (
        f"converted a float32 copy of the model (its layers compute with "
        f"dtype policy {policy}); outputs compared with that copy"
    )
    return clone, note
