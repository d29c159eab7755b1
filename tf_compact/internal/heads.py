"""Classifier heads: probability outputs, their logits, and label losses.

Most published classifiers end in a softmax (or, for two classes, a
sigmoid), while distillation and cross-entropy want the tensor before it.
This module is the one place that finds such a head and reaches behind it:

- `head_kind(model)` says whether an output is `"softmax"`, `"sigmoid"` or
  `"none"` (logits, or anything else),
- `logits_tensor(model)` / `logits_view(model)` give the pre-activation
  tensor, sharing the model's own layers and weights (nothing is copied:
  training the view trains the model),
- `is_binary(kind, width)` tells a binary (or multi-label) output, whose
  labels `tf_compact.internal.labels` handles.

A head is recognized in a Functional or Sequential model when the output
tensor comes from a layer with `activation="softmax"`/`"sigmoid"` (`Dense`,
`Conv*`, `EinsumDense`, ...), from an `Activation`/`Softmax` layer, a
`Lambda` of a softmax/sigmoid function, a `keras.ops.softmax`/`sigmoid`
node, or from a nested model ending in one of these; identity-like layers
(`Identity`, `Activation("linear")`) after it are looked through, and
`Reshape`/`Flatten` layers after it are applied to the logits too. Where the
head is recognized but the tensor before it cannot be reached, the view
falls back to log-probabilities (`log(p)` for a softmax, `log(p / (1 - p))`
for a sigmoid, clipped), which give a softmax the same distillation loss
as its logits.
"""

import keras
from keras import ops

SOFTMAX = "softmax"
SIGMOID = "sigmoid"
NONE = "none"

_SOFTMAX_NAMES = ("softmax", "softmax_v2")
_SIGMOID_NAMES = ("sigmoid",)
_LINEAR_NAMES = ("linear",)
_TINY = 1e-30


def _function_kind(fn):
    name = getattr(fn, "__name__", None)
    if name is None and isinstance(fn, str):
        name = fn
    if name in _SOFTMAX_NAMES:
        return SOFTMAX
    if name in _SIGMOID_NAMES:
        return SIGMOID
    if name in _LINEAR_NAMES:
        return "linear"
    return None


def _last_axis(axis, rank):
    return axis is None or axis == -1 or (rank is not None and axis == rank - 1)


def _producer(tensor):
    """Returns `(operation, input_tensors, tensor_index)` or `None`."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    op = history.operation
    nodes = getattr(op, "_inbound_nodes", None)
    if op is None or not nodes or history.node_index >= len(nodes):
        return None
    inputs = list(nodes[history.node_index].input_tensors)
    return op, inputs, history.tensor_index


def same_tensor(a, b):
    """Whether two symbolic tensors are the same node output of a graph."""
    if a is b:
        return True
    ha = getattr(a, "_keras_history", None)
    hb = getattr(b, "_keras_history", None)
    return ha is not None and hb is not None and tuple(ha) == tuple(hb)


def is_functional(model):
    """Returns True when `model` has a symbolic graph to walk."""
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def model_input(model):
    """Returns the symbolic input structure of a Functional model.

    A single input is returned as its tensor in the graph that
    `model.outputs` belong to (for a Sequential model, `model.input` may be
    another tensor than `model.inputs[0]`).
    """
    inputs = list(model.inputs)
    if len(inputs) == 1:
        return inputs[0]
    try:
        return model.input
    except (AttributeError, ValueError):
        return inputs


def _plain_dense(layer):
    return (
        type(layer).call is keras.layers.Dense.call
        and getattr(layer, "quantization_mode", None) is None
    )


class PreActivation(keras.layers.Layer):
    """Runs a layer without its activation, sharing its weights.

    A plain `Dense` layer's kernel and bias are applied directly; for other
    layers (convolutions, `EinsumDense`, quantized layers) the wrapped
    layer's `call` is run with its `activation` set to the identity for the
    duration of the call. Either way the weights are the very same
    variables, so `PreActivation(dense)(x)` is `dense`'s pre-activation,
    and the wrapped layer gains no node: its `output` stays what it was.

    Args:
        layer: A built layer with an `activation` attribute that its `call`
            applies last.
        **kwargs: Base `Layer` arguments such as `name`.

    Example:

    ```python
    dense = keras.layers.Dense(10, activation="softmax")
    dense.build((None, 4))
    logits = PreActivation(dense)(x)
    ```
    """

    def __init__(self, layer, **kwargs):
        kwargs.setdefault("name", f"{layer.name}_pre_activation")
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(**kwargs)
        self.inner = layer
        self.built = True

    def call(self, inputs):
        layer = self.inner
        if _plain_dense(layer):
            # Dense's own math, without touching the layer at all.
            x = ops.matmul(inputs, layer.kernel)
            if layer.bias is not None:
                x = ops.add(x, layer.bias)
            return x
        saved = self.inner.activation
        self.inner.activation = keras.activations.linear
        try:
            return self.inner.call(inputs)
        finally:
            self.inner.activation = saved

    def compute_output_shape(self, input_shape):
        return self.inner.compute_output_shape(input_shape)


class LogProbabilities(keras.layers.Layer):
    """Maps probabilities to logits up to a constant: the fallback view.

    For a softmax head `log(p)` (equal to the logits minus their
    log-sum-exp, so every softmax-based loss is unchanged); for a sigmoid
    head `log(p) - log(1 - p)`, the logit itself. `p` is clipped away from
    0 and 1 first.

    Args:
        kind: `"softmax"` or `"sigmoid"`.
        **kwargs: Base `Layer` arguments such as `name`.

    Example:

    ```python
    logits = LogProbabilities("softmax")(model.output)
    ```
    """

    def __init__(self, kind, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind

    def call(self, inputs):
        return probabilities_to_logits(inputs, self.kind)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["kind"] = self.kind
        return config


def probabilities_to_logits(probabilities, kind):
    """Returns logits (up to a per-row constant) from head probabilities.

    Args:
        probabilities: Output tensor of a softmax or sigmoid head.
        kind: `"softmax"`, `"sigmoid"` or `"none"` (returned as is).

    Returns:
        A float32 tensor of the same shape.

    Example:

    ```python
    logits = probabilities_to_logits(model(x), head_kind(model))
    ```
    """
    if kind == NONE:
        return probabilities
    p = ops.cast(probabilities, "float32")
    if kind == SOFTMAX:
        return ops.log(ops.clip(p, _TINY, 1.0))
    p = ops.clip(p, 1e-7, 1.0 - 1e-7)
    return ops.log(p) - ops.log(1.0 - p)


class _Head:
    """What `_trace` found: the head's kind and the tensor before it."""

    def __init__(self, kind, logits):
        self.kind = kind
        self.logits = logits


def _layer_kind(op, rank):
    """The kind of activation `op` applies last, `"linear"`, or None."""
    if isinstance(op, keras.layers.Softmax):
        return SOFTMAX if _last_axis(op.axis, rank) else None
    if isinstance(op, keras.layers.Identity):
        return "linear"
    if isinstance(op, keras.layers.Lambda):
        return _function_kind(getattr(op, "function", None))
    if isinstance(op, keras.layers.Layer):
        return _function_kind(getattr(op, "activation", None))
    cls = type(op).__name__
    if cls == "Softmax" and _last_axis(getattr(op, "axis", -1), rank):
        return SOFTMAX
    if cls == "Sigmoid":
        return SIGMOID
    return None


def _reads_input(op):
    """Whether `op` is applied to its input as is (no weights of its own)."""
    passes = (
        keras.layers.Activation,
        keras.layers.Softmax,
        keras.layers.Identity,
        keras.layers.Lambda,
    )
    return isinstance(op, passes) or not isinstance(op, keras.layers.Layer)


# Layers without weights that move values around without changing them: a
# head before them is reached, and they are rebuilt on its logits.
_RESHAPES = (keras.layers.Reshape, keras.layers.Flatten)


def _trace(tensor, depth=0):
    found = _producer(tensor)
    if found is None or depth > 64:
        return _Head(NONE, tensor)
    op, inputs, index = found
    if isinstance(op, keras.Model) and is_functional(op):
        inner = _trace(op.outputs[index], depth + 1)
        if inner.kind == NONE:
            return _Head(NONE, tensor)
        view = keras.Model(
            model_input(op), inner.logits, name=f"{op.name}_logits"
        )
        args = inputs[0] if len(inputs) == 1 else inputs
        return _Head(inner.kind, view(args))
    if isinstance(op, _RESHAPES) and len(inputs) == 1:
        inner = _trace(inputs[0], depth + 1)
        if inner.kind == NONE:
            return _Head(NONE, tensor)
        config = dict(op.get_config(), name=f"{op.name}_logits")
        return _Head(inner.kind, type(op).from_config(config)(inner.logits))
    kind = _layer_kind(op, len(tensor.shape))
    if kind is None:
        return _Head(NONE, tensor)
    if kind == "linear":
        if len(inputs) == 1 and _reads_input(op):
            return _trace(inputs[0], depth + 1)
        return _Head(NONE, tensor)
    if len(inputs) != 1:
        return _Head(kind, LogProbabilities(kind)(tensor))
    if _reads_input(op):
        return _Head(kind, inputs[0])
    return _Head(kind, PreActivation(op)(inputs[0]))


def _output_tensor(model, output):
    outputs = list(model.outputs)
    if output is None:
        output = 0
    if isinstance(output, str):
        names = output_names(model)
        if output not in names:
            raise ValueError(
                "Invalid value for argument `output`. Expected one of the "
                f"output names of model `{model.name}`: {names}. Received: "
                f"output={output!r}"
            )
        return outputs[names.index(output)]
    if not -len(outputs) <= output < len(outputs):
        raise ValueError(
            "Invalid value for argument `output`. Expected an index in "
            f"[0, {len(outputs)}) for model `{model.name}`. Received: "
            f"output={output!r}"
        )
    return outputs[output]


def output_names(model):
    """Names of a Functional model's outputs (their producing layers).

    Args:
        model: A Functional or Sequential `keras.Model`.

    Returns:
        A list of strings, one per output, in order.

    Example:

    ```python
    output_names(model)  # ['class_head', 'box_head']
    ```
    """
    names = []
    for tensor in model.outputs:
        found = _producer(tensor)
        names.append(None if found is None else found[0].name)
    return names


def _last_layer(model):
    layers = [
        layer
        for layer in getattr(model, "layers", [])
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    return layers[-1] if layers else None


def _find(model, output=None):
    if is_functional(model):
        tensor = _output_tensor(model, output)
        return _trace(tensor)
    last = _last_layer(model)
    if isinstance(model, keras.Sequential) and last is not None:
        if isinstance(last, keras.Model):
            return _Head(head_kind(last), None)
        kind = _layer_kind(last, None)
        return _Head(kind if kind in (SOFTMAX, SIGMOID) else NONE, None)
    return _Head(NONE, None)


def head_kind(model, output=None):
    """Returns the activation that ends an output of `model`.

    Args:
        model: A `keras.Model`. Subclassed models have no graph to read and
            are reported as `"none"`.
        output: Index or name of the output. Defaults to `None` (the first).

    Returns:
        `"softmax"`, `"sigmoid"` or `"none"`.

    Raises:
        ValueError: If `output` names no output of `model`.

    Example:

    ```python
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="softmax")]
    )
    head_kind(model)  # 'softmax'
    ```
    """
    return _find(model, output).kind


def outputs_probabilities(model, output=None):
    """Whether an output of `model` ends in a softmax or sigmoid.

    Args:
        model: A `keras.Model`.
        output: Index or name of the output. Defaults to `None` (the first).

    Returns:
        A bool.

    Example:

    ```python
    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=not outputs_probabilities(model)
    )
    ```
    """
    return head_kind(model, output) != NONE


def logits_tensor(model, output=None):
    """Returns the symbolic tensor before the head's softmax/sigmoid.

    The tensor lives in `model`'s graph (`keras.Model(model.inputs, t)` is a
    model sharing `model`'s layers and weights). For an output with no
    probability head, it is the output itself.

    Args:
        model: A Functional or Sequential `keras.Model` with a graph.
        output: Index or name of the output. Defaults to `None` (the first).

    Returns:
        A `KerasTensor`.

    Raises:
        ValueError: If `model` has no symbolic graph, or `output` names no
            output of it.

    Example:

    ```python
    logits = logits_tensor(model)
    gap = model.get_layer("gap").output
    features = keras.Model(model.inputs, [logits, gap])
    ```
    """
    if not is_functional(model):
        raise ValueError(
            f"Model `{model.name}` has no symbolic graph (a subclassed or "
            "unbuilt model), so the tensor before its softmax cannot be "
            "reached. Build it with `keras.Input`, or use "
            "`logits_view`, which falls back to log-probabilities."
        )
    return _find(model, output).logits


def logits_view(model, output=None):
    """Returns a model of the same weights whose output is the logits.

    The view shares `model`'s layers and variables (no weight is copied:
    training the view trains `model`). When the output has no probability
    head the view returns it unchanged; when `model` has no graph but
    is known to end in a softmax/sigmoid (an unbuilt Sequential), the view
    returns log-probabilities.

    Args:
        model: A `keras.Model`.
        output: Index or name of the output. Defaults to `None` (the first).

    Returns:
        A `keras.Model`: the view, or `model` itself when it has no graph
        and no known probability head.

    Raises:
        ValueError: If `output` names no output of `model`.

    Example:

    ```python
    logits = logits_view(model)(x)  # softmax(logits) == model(x)
    ```
    """
    if is_functional(model):
        logits = _find(model, output).logits
        return keras.Model(
            model_input(model), logits, name=f"{model.name}_logits"
        )
    kind = head_kind(model, output)
    if kind == NONE:
        return model
    return _LogitsOf(model, kind, name=f"{model.name}_logits")


class _LogitsOf(keras.Model):
    """Calls a graph-less model and maps its probabilities to logits."""

    def __init__(self, model, kind, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.kind = kind

    def call(self, inputs, training=None):
        out = self.model(inputs, training=training)
        return probabilities_to_logits(out, self.kind)


def output_width(tensor):
    """The last-axis size of a tensor (`None` when unknown)."""
    shape = getattr(tensor, "shape", None)
    return None if not shape else shape[-1]


def is_binary(kind, width):
    """Whether an output of `kind` and last-axis `width` is binary/multi-label.

    A sigmoid head, or a single logit (width 1), is scored with binary
    cross-entropy and distilled with a Bernoulli KL per unit.

    Example:

    ```python
    is_binary("none", 1)  # True
    ```
    """
    return kind == SIGMOID or (kind == NONE and width == 1)
