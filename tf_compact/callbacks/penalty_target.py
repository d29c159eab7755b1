"""The penalty a controller steers, and the model it regularizes."""

import keras


def find_penalty(model, who):
    """Returns `(penalty, regularized model)` of the model being fit.

    Raises:
        ValueError: If the model carries no penalty with a strength.
    """
    penalty = getattr(model, "sparsity", None)
    target = getattr(model, "student", None)
    if not isinstance(target, keras.Model):
        target = getattr(model, "model", None)
    if penalty is None or not hasattr(penalty, "strength"):
        raise ValueError(
            f"{who} needs a sparsity penalty to steer, but the model being "
            f"fit ('{getattr(model, 'name', model)}', of type "
            f"{type(model).__name__}) has none. Train with "
            "`tfc.Sparsifier(model, sparsity=tfc.GroupLasso())` or "
            "`tfc.Distiller(teacher, student, ..., "
            "sparsity=tfc.GroupLasso())`. Received: "
            f"sparsity={penalty!r}"
        )
    if not isinstance(target, keras.Model):
        raise ValueError(
            f"{who} could not find the model regularized by the penalty: "
            f"expected a `student` or `model` attribute holding a "
            f"keras.Model on '{getattr(model, 'name', model)}'."
        )
    return penalty, target
