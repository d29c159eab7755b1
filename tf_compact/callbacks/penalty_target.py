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


def proximal_warning(controller):
    """Returns the warning when `controller`'s penalty cannot reach exact
    zeros as it should, else `None`.

    A proximal penalty whose step nothing applies has no effect; a goal
    that needs exact zeros (`wants_exact_zeros`) with a penalty that could
    be proximal but is not only shrinks the groups.
    """
    penalty, who = controller.penalty, type(controller).__name__
    proximal = getattr(penalty, "proximal", False)
    if proximal and not getattr(penalty, "proximal_applied", False):
        return (
            f"{who}: the penalty is proximal but nothing applies its "
            "proximal step, so it has no effect. Add "
            "`tfc.callbacks.ProximalStep()` to the callbacks."
        )
    if (
        controller.wants_exact_zeros
        and not proximal
        and callable(getattr(penalty, "apply_proximal", None))
    ):
        return (
            f"{who}: the penalty is not proximal, so its groups shrink but "
            "do not reach exact zeros, and the budget is met by raising the "
            "threshold, if at all. Pass `proximal=True` to the penalty "
            "(e.g. `tfc.GroupLasso(1e-4, proximal=True)`)."
        )
    return None
