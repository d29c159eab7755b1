"""Intermediate features of teacher and student: lookup, pairing, extraction.

A Distiller runs each model once per step. For that it builds one
multi-output functional "extractor" per model that returns the model's own
output together with every intermediate feature some distillation term asked
for. Layer names are resolved here, and pairs of layers are matched by
spatial resolution when the user gives none.
"""

import keras

from tf_compact.distillation import nested_hints
from tf_compact.distillation import stages
from tf_compact.internal import heads
from tf_compact.internal.head_ops import probabilities_to_logits
from tf_compact.internal.head_trace import same_tensor
from tf_compact.internal.keras_compat import call_outputs

# Key under which an extractor returns the model's own (final) output.
FINAL = None
# Key under which an extractor returns the tensor before the final output's
# softmax/sigmoid (the output itself when it has no probability head).
LOGITS = "<logits>"


def is_functional(model):
    """Returns True when `model` has a symbolic graph (Functional/Sequential).

    Args:
        model: A `keras.Model`.

    Returns:
        Whether layer outputs of `model` can be reached by name.
    """
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return False
    return bool(inputs)


def _require_functional(model, role, layer_name):
    if not is_functional(model):
        raise TypeError(
            f"The {role} model `{model.name}` is a subclassed model without a "
            f"symbolic graph, so its layer `{layer_name}` cannot be reached. "
            "Use a Functional or Sequential model, or a distillation loss "
            f"that needs only the final outputs. Received: {role}="
            f"{type(model).__name__}"
        )


def layer_output(model, layer_name, role):
    """Returns the symbolic output of the layer called `layer_name`.

    Args:
        model: A Functional or Sequential `keras.Model`.
        layer_name: Name of a layer of `model`.
        role: `"teacher"` or `"student"`, used in error messages.

    Returns:
        The `KerasTensor` the layer produces in `model`'s graph.

    Raises:
        TypeError: If `model` is subclassed.
        ValueError: If `model` has no layer called `layer_name`, or the layer
            is used more than once.
    """
    _require_functional(model, role, layer_name)
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        hint = nested_hints.for_layer(model, layer_name)
        raise ValueError(
            f"Unknown layer name for the {role} model `{model.name}`. "
            f"Expected one of {names}.{hint} Received: {layer_name!r}"
        )
    calls = call_outputs(model, model.get_layer(layer_name))
    if len(calls) != 1:
        raise ValueError(
            f"The {role} layer {layer_name!r} has no single output: it is "
            f"called {len(calls)} times in model `{model.name}`. Expected a "
            "layer called once."
        )
    return calls[0]


def _single_or_list(tensors):
    tensors = list(tensors)
    return tensors[0] if len(tensors) == 1 else tensors


def model_input(model):
    """Returns the symbolic input structure of a functional model."""
    try:
        return model.input
    except (AttributeError, ValueError):
        return _single_or_list(model.inputs)


def final_output(model, output=None):
    """Returns the symbolic output of a functional model, else None.

    Args:
        model: A `keras.Model`.
        output: Index or name of the output to return when `model` has
            several (ignored when it has one). Defaults to `None`: the only
            output, or the list of all outputs.

    Returns:
        A `KerasTensor`, a list of them, or `None` for a subclassed model.
    """
    if not is_functional(model):
        return None
    outputs = list(model.outputs)
    if output is None or len(outputs) == 1:
        return _single_or_list(outputs)
    return outputs[output_index(model, output)]


def output_index(model, output):
    """Returns the index of `output` (an index or output name) in `model`.

    A model with a single output always answers 0: `output` chooses among
    several outputs only.

    Raises:
        ValueError: If `model` has several outputs and none is `output`.
    """
    names = heads.output_names(model)
    count = len(names)
    if count == 1:
        return 0
    if isinstance(output, str):
        if output in names:
            return names.index(output)
    elif -count <= output < count:
        return output % count
    raise ValueError(
        "Invalid value for argument `distilled_output`. Expected an output "
        f"index in [0, {count}) or one of the output names {names} of "
        f"model `{model.name}`. Received: distilled_output={output!r}"
    )


def feature_shape(model, layer_name, role, output=None):
    """Returns the output shape (batch axis included) of a named feature.

    Args:
        model: A `keras.Model`.
        layer_name: A layer name, or `None` for the model's final output.
        role: `"teacher"` or `"student"`, used in error messages.
        output: Index or name of the distilled output. Defaults to `None`
            (the only one).

    Returns:
        A tuple, or `None` when `layer_name` is `None` and `model` is
        subclassed (its output shape is unknown before it runs).
    """
    if layer_name is FINAL:
        out = final_output(model, output)
        return None if out is None else tuple(out.shape)
    return tuple(layer_output(model, layer_name, role).shape)


def auto_pairs(teacher, student, spatial=False):
    """Pairs teacher and student layers that end a stage at equal resolution.

    For every spatial resolution (height, width) that both models produce,
    the last layer of each model at that resolution is taken (the end of a
    stage, just before the next down-sampling). The input, preprocessing,
    augmentation and zero-padding layers are never taken (see
    `stages.is_pass_through`).

    Args:
        teacher: A Functional or Sequential `keras.Model`.
        student: A Functional or Sequential `keras.Model`.
        spatial: Whether to leave out 1×1 features (for losses on spatial
            attention). Defaults to `False`.

    Returns:
        A list of `(teacher_layer_name, student_layer_name)`, from the highest
        resolution to the lowest.

    Raises:
        TypeError: If a model is subclassed.
        ValueError: If the models share no spatial resolution.
    """
    _require_functional(teacher, "teacher", "<auto>")
    _require_functional(student, "student", "<auto>")
    t_ends = stages.stage_ends(teacher, spatial)
    s_ends = stages.stage_ends(student, spatial)
    common = [r for r in t_ends if r in s_ends]
    if not common:
        larger = " larger than 1x1" if spatial else ""
        hint = nested_hints.for_auto_pairs(teacher, student)
        raise ValueError(
            "Cannot match feature pairs automatically: teacher and student "
            f"share no spatial resolution{larger} of a 4D feature map "
            "computed past the input, preprocessing and padding layers. "
            f"Pass `pairs` by layer name.{hint} Received: teacher "
            "resolutions="
            f"{sorted(t_ends)}, student resolutions={sorted(s_ends)}"
        )
    common.sort(key=lambda r: -r[0] * r[1])
    return [(t_ends[r], s_ends[r]) for r in common]


def validate_pairs(pairs, argument="pairs"):
    """Checks a list of `(teacher_layer, student_layer)` name pairs.

    Args:
        pairs: `None` or a list of 2-tuples of layer names.
        argument: Argument name used in error messages. Defaults to `pairs`.

    Returns:
        `None`, or the pairs as a list of tuples.

    Raises:
        ValueError: If `pairs` is empty or holds something else than pairs
            of strings.
    """
    if pairs is None:
        return None
    if isinstance(pairs, str) or not isinstance(pairs, (list, tuple)):
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected a list of "
            f"(teacher_layer, student_layer) name pairs or None. Received: "
            f"{argument}={pairs!r}"
        )
    out = []
    for pair in pairs:
        ok = isinstance(pair, (list, tuple)) and len(pair) == 2
        if not ok or not all(isinstance(n, str) for n in pair):
            raise ValueError(
                f"Invalid value for argument `{argument}`. Expected a list "
                "of (teacher_layer, student_layer) name pairs or None. "
                f"Received: {argument}={pairs!r}"
            )
        out.append((pair[0], pair[1]))
    if not out:
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected at least one "
            f"pair, or None to match pairs automatically. Received: "
            f"{argument}={pairs!r}"
        )
    return out


class FeatureExtractor:
    """Runs a model once and returns its output, logits and named features.

    Not tracked by Keras: the layers belong to the wrapped model, which the
    Distiller tracks and saves. When the distilled output ends in a softmax
    or sigmoid (see `tf_compact.internal.heads`), `LOGITS` is the tensor
    before it, computed by the same layers and weights in the same pass;
    a named layer whose output is that final output is returned as its
    logits too, so that every distillation term reads pre-activations.

    Args:
        model: The teacher or student `keras.Model`.
        layer_names: Names of the intermediate layers whose outputs are
            needed (`None` entries mean the final output and are ignored).
        role: `"teacher"` or `"student"`, used in error messages.
        output: Index or name of the output to distill. Defaults to `None`
            (the only output).
        inputs: A Keras tensor of `model`'s graph to run it from instead
            of its input (the output of its leading augmentation layers:
            the Distiller applies those itself). Defaults to `None`.
    """

    def __init__(self, model, layer_names, role, output=None, inputs=None):
        self.model = model
        self.role = role
        self.output = output
        self.names = []
        for name in layer_names:
            if name is not FINAL and name not in self.names:
                self.names.append(name)
        self.kind = heads.NONE
        self.graph = None
        if not is_functional(model):
            # An unbuilt Sequential still tells its head by its last layer;
            # its logits are then recovered from the probabilities.
            self.kind = heads.head_kind(model)
            return
        final = final_output(model, 0 if output is None else output)
        index = 0 if output is None else output_index(model, output)
        self.kind = heads.head_kind(model, index)
        logits = final
        if self.kind != heads.NONE:
            logits = heads.logits_tensor(model, index)
        multi = len(model.outputs) > 1
        split = inputs is not None
        if self.names or self.kind != heads.NONE or multi or split:
            feats = []
            for n in self.names:
                tensor = layer_output(model, n, role)
                if same_tensor(tensor, final):
                    tensor = logits
                feats.append(tensor)
            # Each tensor once: Keras refuses a graph that starts inside a
            # model and lists one output twice.
            unique, self._index = [], []
            for tensor in [final, logits, *feats]:
                at = [i for i, u in enumerate(unique) if same_tensor(u, tensor)]
                self._index.append(at[0] if at else len(unique))
                unique += [] if at else [tensor]
            self.graph = keras.Model(
                inputs=inputs if split else model_input(model),
                outputs=unique,
                name=f"{model.name}_features",
            )

    def _select(self, output):
        if not isinstance(output, (list, tuple, dict)):
            return output
        if self.output is None:
            raise ValueError(
                f"The {self.role} model `{self.model.name}` returned "
                f"{len(output)} outputs; the Distiller distills one. Pass "
                "`distilled_output=` (an index or output name) to the "
                "Distiller. Received: distilled_output=None"
            )
        return output[self.output]

    def __call__(self, x, training):
        """Returns `{None: output, LOGITS: logits, layer_name: feature}`."""
        if self.graph is None:
            output = self._select(self.model(x, training=training))
            logits = probabilities_to_logits(output, self.kind)
            return {FINAL: output, LOGITS: logits}
        values = self.graph(x, training=training)
        if not isinstance(values, (list, tuple)):
            values = [values]
        output, logits, *feats = [values[i] for i in self._index]
        result = dict(zip(self.names, feats))
        result[FINAL] = output
        result[LOGITS] = logits
        return result
