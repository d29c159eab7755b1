"""A string cross-entropy compiled on a trainer whose model outputs logits.

`compile(loss="sparse_categorical_crossentropy")` means Keras's
cross-entropy of probabilities (`from_logits=False`): on a model whose head
is a plain linear layer (as `tfc.models.*` build), Keras would read the
logits as probabilities and train on a wrong loss without a word. The
trainers resolve such a string to the `from_logits=True` loss, with a
warning; a loss object is taken as it is.
"""

import keras

from tf_compact.internal import head_trace
from tf_compact.internal.user_warning import warn

#: The cross-entropies that Keras names by string, by their names.
_LOSSES = {
    "sparse_categorical_crossentropy": (
        keras.losses.SparseCategoricalCrossentropy
    ),
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
}


def outputs_logits(model):
    """Whether `model`'s single output comes from a layer whose activation
    is linear (a `Dense` or `Conv` with `activation=None`): logits.

    Unknown heads (a subclassed model, a custom last layer) are not logits.
    """
    outputs = list(getattr(model, "outputs", None) or [])
    if len(outputs) != 1:
        return False
    found = head_trace.producer(outputs[0])
    if found is None or not hasattr(found[0], "activation"):
        return False
    return head_trace.layer_kind(found[0], len(outputs[0].shape)) == "linear"


def resolve_loss(loss, model, owner):
    """Returns `loss`, or its `from_logits=True` form for a logits head.

    Args:
        loss: The loss given to `compile`.
        model: The model whose output the loss scores.
        owner: The trainer's class name, for the warning.

    Returns:
        A `keras.losses.Loss` with `from_logits=True` when `loss` names a
        Keras cross-entropy and `model` outputs logits; else `loss`.
    """
    if not isinstance(loss, str) or loss not in _LOSSES:
        return loss
    if not outputs_logits(model):
        return loss
    cls = _LOSSES[loss]
    warn(
        f"{owner}: loss={loss!r} reads the output as probabilities, but "
        f"'{model.name}' outputs logits (its last layer has no activation); "
        f"compiled as keras.losses.{cls.__name__}(from_logits=True) "
        "instead. Pass that loss to `compile` to silence this warning.",
    )
    return cls(from_logits=True)
