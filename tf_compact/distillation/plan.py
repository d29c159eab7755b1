"""The Distiller's bookkeeping: terms, feature pairs, extractors, modules."""

from keras import ops

from tf_compact.distillation import features
from tf_compact.distillation import keras_compat
from tf_compact.distillation import labels as labels_lib
from tf_compact.distillation import validation
from tf_compact.internal import heads


def to_float(x):
    """`x` as a float32 tensor."""
    x = ops.convert_to_tensor(x)
    return x if x.dtype == "float32" else ops.cast(x, "float32")


def _key(name):
    """Terms that read the final output get the tensor before its head."""
    return features.LOGITS if name is features.FINAL else name


def float_sum(values):
    """The float32 sum of every element of every tensor in `values`."""
    total = ops.zeros((), "float32")
    for v in values:
        total = total + ops.sum(to_float(v))
    return total


class Plan:
    """Untracked bookkeeping: terms, feature pairs, extractors, modules.

    Example:

    ```python
    plan = Plan(teacher, student, [tfc.LogitsKD()], output=None)
    modules = plan.build_modules(teacher, student)
    ```
    """

    def __init__(self, teacher, student, losses, output, student_inputs=None):
        self.output = output
        self.terms = [keras_compat.as_term(loss) for loss in losses]
        self.pairs = [t.resolve_pairs(teacher, student) for t in self.terms]
        self.keys = validation.unique_keys([t.term_name for t in self.terms])
        t_names = [p[0] for pairs in self.pairs for p in pairs]
        s_names = [p[1] for pairs in self.pairs for p in pairs]
        self.teacher = features.FeatureExtractor(
            teacher, t_names, "teacher", output
        )
        self.student = features.FeatureExtractor(
            student, s_names, "student", output, inputs=student_inputs
        )
        self.width = _output_width(student, output)
        if self.width is None:
            self.width = _output_width(teacher, output)
        self.binary = _binary_outputs(self.teacher, self.student, self.width)
        for term in self.terms:
            if hasattr(term, "check_head"):
                term.check_head(bool(self.binary))
        self.module_index = []
        # (compiled loss, LabelPlan), set by the Distiller's first step.
        self.labels = None

    def shapes(self, teacher, student, i):
        pairs = self.pairs[i]
        shape = features.feature_shape
        out = self.output
        t = [shape(teacher, p[0], "teacher", out) for p in pairs]
        s = [shape(student, p[1], "student", out) for p in pairs]
        return t, s

    def build_modules(self, teacher, student):
        """The adapters and heads the terms need, in term order."""
        modules = []
        for i, term in enumerate(self.terms):
            t_shapes, s_shapes = self.shapes(teacher, student, i)
            module = None
            if None in t_shapes or None in s_shapes:
                validation.require_shapes(term, teacher, student)
            else:
                module = term.build_module(t_shapes, s_shapes)
            self.module_index.append(None if module is None else len(modules))
            if module is not None:
                modules.append(module)
        return modules

    def term_values(self, teacher_feats, student_feats, modules, training):
        """Each distillation term's float32 value, in term order."""
        values = []
        for i, term in enumerate(self.terms):
            pairs = self.pairs[i]
            index = self.module_index[i]
            module = None if index is None else modules[index]
            kwargs = {}
            if getattr(term, "reads_head", False):
                kwargs["binary"] = self.binary
            value = term.term_loss(
                [teacher_feats[_key(p[0])] for p in pairs],
                [student_feats[_key(p[1])] for p in pairs],
                module=module,
                training=training,
                **kwargs,
            )
            values.append(to_float(value))
        return values

    def select_labels(self, y):
        """The distilled output's labels from labels given per output.

        A dict keyed by output name, or a list with one entry per output,
        gives the distilled output's entry; other labels pass unchanged.

        Raises:
            ValueError: If a dict has no entry for the distilled output,
                or a list has another length than the outputs.
        """
        found = self.distilled_output_names()
        if found is None or not isinstance(y, (dict, list, tuple)):
            return y
        names, index = found
        entry = output_entry(y, names, index)
        if entry is not MISSING:
            return entry
        raise ValueError(
            "Invalid labels for a model with several outputs: the "
            f"Distiller trains the distilled output {self.output!r} only "
            "and needs its labels (an array, or a dict with its name "
            f"{names[index]}, or a list of {len(names)} entries). "
            f"Received: labels {_describe_labels(y)}"
        )

    def distilled_output_names(self):
        """`(names, index)`: the names each output of the student goes by
        (Keras's and its layer's) and the distilled output's index; `None`
        when the student has one output or no output is distilled."""
        if self.output is None:
            return None
        model = self.student.model
        names = _all_output_names(model)
        if len(names) < 2:
            return None
        return names, features.output_index(model, self.output)

    def label_plan(self, loss):
        """The compiled loss's needs, checked against the student's head.

        Raises:
            ValueError: If the student's output is binary (a sigmoid head
                or a single unit) and the compiled loss is a categorical
                cross-entropy (raised by the first step, before training).
        """
        cached = self.labels
        if cached is None or cached[0] is not loss:
            plan = labels_lib.LabelPlan(loss, self.student.kind, self.width)
            self.labels = (loss, plan)
        return self.labels[1]


def _output_width(model, output):
    out = features.final_output(model, 0 if output is None else output)
    return None if out is None else out.shape[-1]


def _binary_outputs(teacher, student, width):
    """Whether the distilled outputs are binary/multi-label (None: unknown)."""
    kinds = {teacher.kind, student.kind} - {heads.NONE}
    if len(kinds) > 1:
        raise ValueError(
            "Teacher and student heads differ: the teacher's output ends in "
            f"a {teacher.kind} and the student's in a {student.kind}. "
            "Distillation compares the same kind of output (softmax with "
            "softmax, sigmoid with sigmoid, or logits). Received: teacher "
            f"head={teacher.kind!r}, student head={student.kind!r}"
        )
    kind = kinds.pop() if kinds else heads.NONE
    if kind == heads.NONE and width is None:
        return None
    return heads.is_binary(kind, width)


#: What `output_entry` returns for a value with no entry of the output.
MISSING = object()


def output_entry(value, names, index):
    """The entry of output `index` in a value given per output.

    Args:
        value: A dict keyed by output name, or a list or tuple.
        names: Per output, the names it goes by (`distilled_output_names`).
        index: The output's index.

    Returns:
        The dict's entry under one of the output's names, or the list's
        entry when it has one per output; else `MISSING`.
    """
    if isinstance(value, dict):
        for key in names[index]:
            if key in value:
                return value[key]
    elif isinstance(value, (list, tuple)) and len(value) == len(names):
        return value[index]
    return MISSING


def _all_output_names(model):
    """Per output, the names it goes by: Keras's and its layer's."""
    keras_names = list(getattr(model, "output_names", None) or [])
    layer_names = heads.output_names(model)
    if len(keras_names) != len(layer_names):
        keras_names = [None] * len(layer_names)
    return [
        [n for n in dict.fromkeys(pair) if n is not None]
        for pair in zip(keras_names, layer_names)
    ]


def _describe_labels(y):
    if isinstance(y, dict):
        return f"a dict with keys {sorted(y)}"
    return f"a {type(y).__name__} of {len(y)} entries"


def with_pairs(entry, pairs):
    """A serialized loss with automatic pairs (`pairs=None`) written out
    as the ones this Distiller uses: the saved model loads back with the
    same layers paired even if the automatic choice changes."""
    config = entry.get("config") if isinstance(entry, dict) else None
    if (
        isinstance(config, dict)
        and "pairs" in config
        and config["pairs"] is None
    ):
        config["pairs"] = [list(pair) for pair in pairs]
    return entry
