"""Cloning a Keras 3 model into `tf_keras` (Keras 2), for tfmot.

tensorflow-model-optimization only accepts `tf_keras` models, and
`tf_keras.Model.from_config` cannot read a Keras 3 config. The bridge walks
the Keras 3 graph, re-creates each layer from its translated config in
`tf_keras` (dropping Keras-3-only keys), inlines nested models so that the
result is flat (tfmot cannot quantize nested models), then copies the
weights layer by layer. Layer names are kept.
"""

import inspect

from tf_compact.internal import keras_compat
from tf_compact.lite import qat_fold
from tf_compact.lite.errors import BridgeError

_BASE_KEYS = frozenset({"name", "trainable", "dtype"})
_OBJECT_MODULES = {
    "keras.initializers": "initializers",
    "keras.regularizers": "regularizers",
    "keras.constraints": "constraints",
}


def _accepted(cls):
    """Constructor argument names of `cls`, up its MRO."""
    names = set()
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        names.update(p for p in params if p not in ("self", "kwargs"))
    return names


def _translate_object(value, tf_keras):
    """Translates a serialized Keras 3 initializer/regularizer/constraint."""
    module = _OBJECT_MODULES.get(value.get("module"))
    if module is None:
        return value
    cls = getattr(getattr(tf_keras, module), value["class_name"], None)
    if cls is None:
        return None
    allowed = _accepted(cls)
    config = {
        k: v for k, v in (value.get("config") or {}).items() if k in allowed
    }
    return {"class_name": value["class_name"], "config": config}


def _translate_value(key, value, tf_keras):
    if key == "dtype" and isinstance(value, dict):
        return value.get("config", {}).get("name", "float32")
    if isinstance(value, dict) and "class_name" in value:
        return _translate_object(value, tf_keras)
    return value


def translate_config(layer, tf_keras):
    """Returns `(tf_keras_class, config)` re-creating a Keras 3 layer.

    Args:
        layer: A Keras 3 layer.
        tf_keras: The imported `tf_keras` module.

    Returns:
        The `tf_keras.layers` class of the same name and the layer's config
        with Keras-3-only keys (e.g. `quantization_config`, `lora_rank`)
        removed and nested objects translated.

    Raises:
        BridgeError: If `tf_keras.layers` has no class of that name.

    Example:

    ```python
    cls, config = translate_config(model.layers[1], tf_keras)
    clone = cls.from_config(config)
    ```
    """
    name = type(layer).__name__
    cls = getattr(tf_keras.layers, name, None)
    if cls is None:
        raise BridgeError(
            f"Layer {layer.name!r} of class {name} has no tf_keras "
            "counterpart, so the model cannot be bridged to tf_keras for "
            "tensorflow-model-optimization. Replace the layer with a "
            "built-in one."
        )
    allowed = _accepted(cls) | _BASE_KEYS
    config = {
        key: _translate_value(key, value, tf_keras)
        for key, value in layer.get_config().items()
        if key in allowed
    }
    return cls, config


def _identity(x, *args, **kwargs):
    return x


class _Cloner:
    """Runs a Keras 3 graph on `tf_keras` tensors, creating layers as met.

    `folds` (`qat_fold.dense_batch_norm_pairs`) names BN layers that are
    folded into the `Dense` before them: the BN is skipped, the `Dense`
    clone gets a bias and the folded weights.
    """

    def __init__(self, tf_keras, folds=None):
        self.tf_keras = tf_keras
        self.pairs = {}
        self.skipped = set(folds or {})
        self.folded = {id(d): bn for d, bn in (folds or {}).values()}

    def operation(self, op):
        import keras

        if isinstance(op, keras.Model):
            return lambda *args, **kwargs: self.run_graph(op, args[0])
        if not isinstance(op, keras.layers.Layer):
            raise BridgeError(
                f"Operation {op.name!r} ({type(op).__name__}) is a raw "
                "`keras.ops` call in the functional graph; wrap it in a "
                "layer (or rewrite with built-in layers) to bridge it to "
                "tf_keras."
            )
        if id(op) in self.skipped:
            return _identity
        if id(op) not in self.pairs:
            cls, config = translate_config(op, self.tf_keras)
            if id(op) in self.folded:
                config["use_bias"] = True
            try:
                clone = cls.from_config(config)
            except (TypeError, ValueError) as e:
                raise BridgeError(
                    f"Could not re-create layer {op.name!r} "
                    f"({type(op).__name__}) in tf_keras: {e}"
                ) from e
            self.pairs[id(op)] = (op, clone)
        return self.pairs[id(op)][1]

    def run_graph(self, model, inputs):
        functional = _functional_of(model)
        outputs = functional._run_through_graph(
            inputs, operation_fn=self.operation
        )
        return outputs

    def copy_weights(self):
        for source, clone in self.pairs.values():
            weights = source.get_weights()
            if id(source) in self.folded:
                bn = self.folded[id(source)]
                weights = qat_fold.folded_weights(source, bn)
            try:
                clone.set_weights(weights)
            except ValueError as e:
                raise BridgeError(
                    f"Weights of layer {source.name!r} "
                    f"({type(source).__name__}) do not fit its tf_keras "
                    f"clone: {e}"
                ) from e
            # State derived from the weights (an adapted Normalization's
            # mean and variance) is recomputed, as a loader would.
            keras_compat.finalize_layer(clone)


def _functional_of(model):
    functional = keras_compat.functional_graph(model)
    if functional is not None and functional.inputs:
        return functional
    if isinstance(model, keras_compat.Sequential):
        raise BridgeError(
            f"Sequential model {model.name!r} is not built with a known "
            "input shape; start it with `keras.Input(shape)` or build "
            "it before bridging."
        )
    raise BridgeError(
        f"Model {model.name!r} ({type(model).__name__}) is not a "
        "Functional or Sequential model; only graph models can be "
        "bridged to tf_keras."
    )


def _make_inputs(model, tf_keras):
    inputs = []
    for tensor in _functional_of(model).inputs:
        layer_name = getattr(tensor, "_keras_history", None)
        name = layer_name[0].name if layer_name else None
        inputs.append(
            tf_keras.Input(
                batch_shape=tuple(tensor.shape),
                dtype=tensor.dtype,
                name=name,
            )
        )
    return inputs


def to_tf_keras(model, fold_dense_batch_norms=False):
    """Clones a Keras 3 Functional/Sequential model into `tf_keras`.

    The clone has the same layer names, the same weights and the same
    outputs (up to float rounding); nested models are inlined, so the clone
    is flat. The input model is not modified. Imports `tf_keras` lazily.

    Args:
        model: A built Keras 3 Functional or Sequential model.
        fold_dense_batch_norms: Whether a `BatchNormalization` right after
            a `Dense` without activation is folded into it (the clone then
            lacks the BN; its outputs at inference are the same). QAT
            needs it: see `tf_compact.lite.qat_fold`. Defaults to `False`.

    Returns:
        A `tf_keras.Model`.

    Raises:
        TypeError: If `model` is not a Keras 3 model.
        BridgeError: If a layer has no `tf_keras` counterpart, is a raw
            `keras.ops` call, or its weights do not fit the clone.
        ImportError: If `tf_keras` is not installed.

    Example:

    ```python
    tfk_model = tfc.lite.to_tf_keras(model)
    import tensorflow_model_optimization as tfmot
    qat_model = tfmot.quantization.keras.quantize_model(tfk_model)
    ```
    """
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(
            "Invalid type for argument `model`. Expected a Keras 3 model. "
            f"Received: type={type(model).__name__}"
        )
    import tf_keras

    folds = None
    if fold_dense_batch_norms:
        folds = qat_fold.dense_batch_norm_pairs(model)
    cloner = _Cloner(tf_keras, folds)
    inputs = _make_inputs(model, tf_keras)
    feed = inputs[0] if len(inputs) == 1 else inputs
    outputs = cloner.run_graph(model, feed)
    clone = tf_keras.Model(inputs, outputs, name=model.name)
    cloner.copy_weights()
    return clone
