"""Helpers of the masking callbacks: the pruned model, its channel segments,
and keeping the model's weights in step with a callback's mask."""

import keras
import numpy as np

from tf_compact.internal.user_warning import warn


def pruned_model_of(model):
    """The model whose channels are masked: a wrapper's `student` or `model`
    (a `tfc.Distiller` or `tfc.Sparsifier`), else `model` itself."""
    for name in ("student", "model"):
        inner = getattr(model, name, None)
        if isinstance(inner, keras.Model):
            return inner
    return model


def segments_of_channels(plan):
    """Global channel indices of each group and of each producer in it:
    every one of them must keep a channel."""
    segments = getattr(plan.graph, "segments", {})
    out = []
    for i, name in enumerate(plan.group_names):
        start, stop = int(plan.offsets[i]), int(plan.offsets[i + 1])
        out.append(np.arange(start, stop))
        for _, channels in segments.get(name, ()):
            out.append(start + np.asarray(channels, dtype="int64"))
    return out


def reapply_stale_masks(callback, when):
    """Zeroes masked channels whose weights are non-zero again, and warns.

    Another callback may set the weights after the mask was applied (for
    example `keras.callbacks.EarlyStopping(restore_best_weights=True)`,
    which restores an earlier epoch's weights at the end of training).
    The mask is then applied again, so that `tfc.slim(model,
    callback.masks)` computes what the model computes.

    Args:
        callback: An `IterativePruning` (or subclass) with a model set.
        when: Words that say when the check ran, for the warning.

    Returns:
        The number of weight entries that were set back to zero.
    """
    mask = getattr(callback, "mask", None)
    model = getattr(callback, "pruned_model", None)
    if mask is None or model is None:
        return 0
    if np.all(keras.ops.convert_to_numpy(mask) > 0):
        return 0
    before = [keras.ops.convert_to_numpy(w) for w in model.weights]
    callback._apply()
    after = [keras.ops.convert_to_numpy(w) for w in model.weights]
    changed = sum(int(np.sum(a != b)) for a, b in zip(before, after))
    if changed:
        warn(
            f"{type(callback).__name__}: {when}, {changed} weight entries "
            "of masked channels were non-zero: another callback (such as "
            "`keras.callbacks.EarlyStopping(restore_best_weights=True)`) "
            "set weights from before the latest mask update. The masks "
            "were applied again, so `tfc.slim(model, callback.masks)` "
            "equals the masked model; evaluate it again, or fine-tune it "
            "with the pruning callback in place. To keep the restored "
            "weights unmasked, do not restore weights beside a pruning "
            "callback.",
        )
    return changed


def require_groups(callback, model, graph):
    """Refuses a model with no prunable channel group, naming it."""
    if graph.groups:
        return
    raise ValueError(
        f"{type(callback).__name__}: model '{model.name}' has no prunable "
        "channel group (no Conv/Dense layer whose output channels can be "
        "removed), so no target can be reached. Received: a model of "
        f"layers {[type(layer).__name__ for layer in model.layers]}"
    )
