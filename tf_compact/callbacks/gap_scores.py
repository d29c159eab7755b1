"""Scores of a model on a labelled batch, for `SparsityController`'s gap.

Accuracy or cross-entropy of a softmax/logit head or of a one-unit
(sigmoid or logit) head, in NumPy, from the model's predictions.
"""

import numpy as np

from tf_compact.internal import heads
from tf_compact.internal.user_warning import warn


def score(pred, y, metric, model):
    """Returns `model`'s accuracy or cross-entropy from its predictions.

    Args:
        pred: The model's outputs on the batch (NumPy).
        y: Class ids (ints >= 0), one per example.
        metric: `"accuracy"` or `"loss"`.
        model: The model that made `pred` (its head tells probabilities
            from logits, and names it in errors).

    Raises:
        ValueError: If a label is not a class of the model's output.
    """
    check_labels(y, pred, model)
    if pred.ndim == 2 and pred.shape[-1] == 1:
        probabilities = heads.head_kind(model) == heads.SIGMOID
        return binary_score(pred[:, 0], y, metric, probabilities)
    if metric == "accuracy":
        return float(np.mean(np.argmax(pred, axis=-1) == y))
    return cross_entropy(pred, y, heads.head_kind(model) == heads.SOFTMAX)


def check_labels(y, pred, model):
    """Raises ValueError if a label of `y` is not a class of `pred`."""
    classes = int(pred.shape[-1]) if pred.ndim > 1 else 0
    if classes == 1:
        classes = 2  # a binary head: labels 0 and 1
    if y.size and (classes < 1 or int(np.max(y)) >= classes):
        raise ValueError(
            "Invalid value for argument `data`: its labels lie in "
            f"[{int(np.min(y))}, {int(np.max(y))}], but model "
            f"'{model.name}' outputs {classes} classes (labels must lie in "
            f"[0, {classes - 1}]). Received: y with labels up to "
            f"{int(np.max(y))}"
        )


def binary_score(score, y, metric, probabilities):
    """Accuracy or binary cross-entropy of a one-unit head.

    `probabilities` says whether the head ends in a sigmoid; otherwise its
    output is a logit.
    """
    score = np.asarray(score, dtype="float64")
    p = score if probabilities else 1.0 / (1.0 + np.exp(-score))
    p = np.clip(p, 1e-12, 1.0 - 1e-12)
    if metric == "accuracy":
        return float(np.mean((p > 0.5) == (y > 0)))
    return float(-np.mean(np.where(y > 0, np.log(p), np.log(1.0 - p))))


def cross_entropy(pred, y, probabilities):
    """Mean cross-entropy of class ids `y` under the rows of `pred`.

    Args:
        pred: The model's outputs, one row per example, in any float dtype
            (the cross-entropy is computed in float64).
        y: Class ids, one per example.
        probabilities: Whether the model's head ends in a softmax (rows of
            probabilities, renormalized as Keras does, since a float16 row
            may sum to `1 +- 1e-3`); else the rows are logits. The head
            decides, not the values: a float16 softmax row, or a logit row
            that happens to look like one, would be taken for the other.
    """
    pred = np.asarray(pred, dtype="float64")
    if probabilities:
        pred = pred / np.maximum(pred.sum(axis=-1, keepdims=True), 1e-12)
        log_p = np.log(np.clip(pred, 1e-7, 1.0))
    else:
        shifted = pred - pred.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(y)), y]))


def penalized_monitor(model, monitor):
    """Returns a warning when `monitor` is a total loss with the penalty.

    The total `loss` (and `val_loss`) of a `tfc.Distiller` or
    `tfc.Sparsifier` with a penalty includes the penalty, so a controller
    steering the penalty from it would hold the strength back because of
    the penalty itself.

    Args:
        model: The model being fit (the trainer).
        monitor: The key of the epoch logs the controller reads.

    Returns:
        The warning text, or `None` when `monitor` excludes the penalty.
    """
    prefix = "val_" if str(monitor).startswith("val_") else ""
    if monitor != f"{prefix}loss" or getattr(model, "sparsity", None) is None:
        return None
    if hasattr(model, "student"):
        advice = f"Monitor `{prefix}student_loss` (the student's own loss)"
    else:
        advice = f"Monitor `{prefix}task_loss` (the loss without the penalty)"
    return (
        f"SparsityController: monitor={monitor!r} is the total loss, which "
        f"includes the sparsity penalty (logged as `{prefix}sparsity_loss`): "
        "the controller would hold the strength back because of its own "
        f"penalty. {advice} instead."
    )


#: A validation accuracy this far under the training one, in the same
#: epoch, is taken for stale BN statistics rather than overfitting.
STALE_GAP = 0.25


def warn_stale_validation(controller, logs, monitored):
    """Warns once per fit when a monitored validation accuracy lies far
    under the epoch's training accuracy.

    Keras validates with the BN moving statistics, which lag far behind
    the weights on short fits (a few hundred steps with momentum 0.99): a
    student doing well can validate near chance, and the controller would
    then lower the strength for a gap that a BN recalibration removes.
    The `data=` mode scores with batch statistics and is not affected.
    """
    monitor = controller.monitor
    training = (
        logs.get(monitor[len("val_") :]) if monitor.startswith("val_") else None
    )
    if controller.metric == "loss" or training is None:
        return
    if getattr(controller, "_warned_stale", False):
        return
    if float(training) - monitored > STALE_GAP:
        controller._warned_stale = True
        warn(
            f"SparsityController: {monitor}={monitored:.3f} is far under "
            f"the training {monitor[len('val_') :]}={float(training):.3f} of "
            "the same epoch; on short fits Keras validates with BN moving "
            "statistics that lag behind the weights, so the gap the "
            "controller sees may be one a BN recalibration removes, and it "
            "would lower the strength for it. Give `data=(x_val, y_val)` "
            "instead of `monitor` (scored with batch statistics), or train "
            "longer before steering.",
        )
