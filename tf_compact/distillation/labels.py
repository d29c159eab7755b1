"""How the Distiller feeds labels and predictions to the compiled loss."""

import keras
from keras import ops

from tf_compact.internal import heads
from tf_compact.internal import labels as label_lib

SPARSE = "sparse"
CATEGORICAL = "categorical"
BINARY = "binary"

_FAMILIES = (
    ("sparse_categorical", SPARSE),
    ("sparsecategorical", SPARSE),
    ("categorical", CATEGORICAL),
    ("binary", BINARY),
)


def _family_of_name(name):
    name = name.lower()
    for prefix, family in _FAMILIES:
        if name.startswith(prefix):
            return family
    return None


def loss_family(loss):
    """Returns `(family, from_logits)` of a compiled loss.

    Args:
        loss: A loss as given to `compile`: a string, a `keras.losses.Loss`,
            a function, or `None`.

    Returns:
        `family` is `"sparse"`, `"categorical"`, `"binary"` or `None`
        (unknown, or a `LabelLoss` that adapts itself); `from_logits` is a
        bool.

    Example:

    ```python
    loss_family("sparse_categorical_crossentropy")  # ('sparse', False)
    ```
    """
    if isinstance(loss, str):
        return _family_of_name(loss), False
    if isinstance(loss, label_lib.LabelLoss):
        return None, loss.from_logits
    if isinstance(loss, keras.losses.Loss):
        try:
            config = loss.get_config()
        except (NotImplementedError, TypeError):
            config = {}
        from_logits = bool(config.get("from_logits", False))
        return _family_of_name(type(loss).__name__), from_logits
    if callable(loss):
        return _family_of_name(getattr(loss, "__name__", "")), False
    return None, False


def _describe(loss):
    if isinstance(loss, str) or loss is None:
        return repr(loss)
    return type(loss).__name__


class LabelPlan:
    """What the compiled loss of a Distiller wants, checked once.

    Args:
        loss: The loss given to `compile` (or `None`).
        kind: The student's head, `"softmax"`, `"sigmoid"` or `"none"`.
        width: The width of the student's output (last axis), or `None`.

    Raises:
        ValueError: If the student's output is binary (a sigmoid head or a
            single unit) and `loss` is a categorical cross-entropy.

    Example:

    ```python
    plan = LabelPlan("sparse_categorical_crossentropy", "softmax", 10)
    plan.use_logits  # False
    ```
    """

    def __init__(self, loss, kind, width):
        self.family, from_logits = loss_family(loss)
        self.width = width
        self.use_logits = kind != heads.NONE and from_logits
        binary = heads.is_binary(kind, width)
        if binary and self.family in (SPARSE, CATEGORICAL):
            unit = f"{width} unit" + ("" if width == 1 else "s")
            raise ValueError(
                "Invalid value for argument `loss`. The student's output is "
                f"binary or multi-label (head: {kind}, {unit}), which a "
                "categorical cross-entropy cannot score. Expected a binary "
                "loss such as keras.losses.BinaryCrossentropy("
                f"from_logits={kind == heads.NONE}). Received: "
                f"loss={_describe(loss)}"
            )

    def convert(self, y):
        """Returns labels in the form the loss expects (sparse/one-hot)."""
        if self.family not in (SPARSE, CATEGORICAL) or not self.width:
            return y
        if isinstance(y, (list, tuple, dict)):
            return y
        y = ops.convert_to_tensor(y)
        rank = len(y.shape)
        one_hot = rank >= 2 and y.shape[-1] == self.width and self.width > 1
        if self.family == SPARSE and one_hot:
            return ops.argmax(y, axis=-1)
        if self.family == CATEGORICAL and not one_hot:
            if rank >= 2 and y.shape[-1] == 1:
                y = ops.squeeze(y, -1)
            return ops.one_hot(ops.cast(y, "int32"), self.width)
        return y
