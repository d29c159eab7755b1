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

from tf_compact.internal.head_ops import NONE
from tf_compact.internal.head_ops import SIGMOID
from tf_compact.internal.head_ops import SOFTMAX
from tf_compact.internal.head_ops import LogitsOf
from tf_compact.internal.head_trace import Head
from tf_compact.internal.head_trace import is_functional
from tf_compact.internal.head_trace import layer_kind
from tf_compact.internal.head_trace import model_input
from tf_compact.internal.head_trace import producer
from tf_compact.internal.head_trace import trace


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
        found = producer(tensor)
        names.append(None if found is None else found[0].name)
    return names


def require_single_output(model, argument, caller):
    """Refuses a Functional model with several outputs.

    Args:
        model: A `keras.Model` or `None` (accepted).
        argument: The argument's name, for the message.
        caller: What needs one output, e.g. `"tfc.lite.qat"`.

    Raises:
        ValueError: If `model` has a symbolic graph with several outputs.

    Example:

    ```python
    require_single_output(model, "model", "tfc.lite.qat")
    ```
    """
    if model is None or not is_functional(model) or len(model.outputs) < 2:
        return
    raise ValueError(
        f"{caller} trains a model with one output; `{argument}` "
        f"`{model.name}` has {len(model.outputs)} outputs "
        f"{output_names(model)}. Pass a model of the output to train, "
        "e.g. keras.Model(model.inputs, model.outputs[i]), or convert the "
        "whole model with tfc.lite.convert(mode='int8'). Received: "
        f"{argument} with {len(model.outputs)} outputs"
    )


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
        return trace(tensor)
    last = _last_layer(model)
    if isinstance(model, keras.Sequential) and last is not None:
        if isinstance(last, keras.Model):
            return Head(head_kind(last), None)
        kind = layer_kind(last, None)
        return Head(kind if kind in (SOFTMAX, SIGMOID) else NONE, None)
    return Head(NONE, None)


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
    return LogitsOf(model, kind, name=f"{model.name}_logits")


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


#: Keras's regression losses, by the names a string or object gives.
_REGRESSION = {
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
    "mean_absolute_percentage_error",
    "mape",
    "mean_squared_logarithmic_error",
    "msle",
    "huber",
    "huber_loss",
    "log_cosh",
    "logcosh",
    "cosine_similarity",
}


def regression_loss(loss):
    """The name of `loss` if it is a Keras regression loss, else `None`.

    Example:

    ```python
    regression_loss("mse")  # "mse"
    regression_loss(keras.losses.MeanAbsoluteError())  # "mean_absolute_error"
    ```
    """
    if loss is None:
        return None
    if isinstance(loss, str):
        name = loss
    elif isinstance(loss, keras.losses.Loss):
        name = getattr(loss, "fn", None)
        name = getattr(name, "__name__", None) or type(loss).__name__
    else:
        name = getattr(loss, "__name__", "")
    name = str(name)
    snake = "".join(
        "_" + c.lower() if c.isupper() and i else c.lower()
        for i, c in enumerate(name)
    )
    return name if snake in _REGRESSION or name in _REGRESSION else None
