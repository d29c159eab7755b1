"""Channel importance aggregated over whole channel groups."""

import keras
import numpy as np

from tf_compact.internal import array_data
from tf_compact.pruning.validation import validate_criterion
from tf_compact.pruning.validation import validate_normalize
from tf_compact.surgery.common import resolve_graph


def group_importance(
    model,
    graph=None,
    criterion="l2",
    data=None,
    normalize="mean",
    roles=("producer", "norm"),
    loss=None,
):
    """Scores every channel of every group of `model`'s channel graph.

    A channel's score aggregates all weights coupled to it, over every
    member of its group whose role is in `roles` (by default the kernels
    and biases that produce it and the per-channel weights of the norms it
    passes through; the same weights as the group-lasso penalty):

    - `"l2"`: `sqrt(sum w**2)`, the group-lasso norm of the channel.
    - `"l1"`: `sum |w|`.
    - `"bn_gamma"`: `sum |gamma|` over the group's normalization layers
      (network slimming). A group without a normalization layer falls
      back to `"l2"`.
    - `"taylor"`: `|sum w * dL/dw|`, the first-order estimate of the loss
      change when the channel is removed; needs `data`.

    Normalization, per group, makes scores comparable across groups for
    global ranking: `"mean"` divides by the group's mean score, `"max"` by
    its maximum, `"sum"` by its sum, `None` keeps raw scores (use it with
    absolute thresholds).

    Args:
        model: A Sequential or Functional `keras.Model`.
        graph: Its `ChannelGraph`. Defaults to `None` (built here).
        criterion: `"l2"`, `"l1"`, `"bn_gamma"` or `"taylor"`. Defaults to
            `"l2"`.
        data: For `"taylor"`: a batch `(x, y)` or `(x, y, sample_weight)`,
            or an iterable of such batches (a `tf.data.Dataset`). Defaults
            to `None`.
        normalize: `"mean"`, `"max"`, `"sum"` or `None`. Defaults to
            `"mean"`.
        roles: Member roles that are scored. Defaults to
            `("producer", "norm")`.
        loss: For `"taylor"`: a loss (name or callable `loss(y, y_pred)`).
            Defaults to `None`: the model's compiled loss.

    Returns:
        Dict `{group name: float64 array of group.size}`.

    Raises:
        ValueError: For an unknown criterion or normalizer, or `"taylor"`
            without a loss, or with `data` that holds no batch (or only
            empty ones) or no labels.

    Example:

    ```python
    scores = tfc.group_importance(model, criterion="l1")
    weakest = {name: s.argmin() for name, s in scores.items()}
    ```
    """
    validate_criterion(criterion)
    validate_normalize(normalize)
    graph = resolve_graph(model, graph)
    grads = None
    if criterion == "taylor":
        grads = _gradients(model, data, loss)
    scores = {}
    for group in graph.groups:
        refs = graph.weight_refs(group, roles=tuple(roles))
        kind = criterion
        if criterion == "bn_gamma":
            gammas = [r for r in refs if r.weight == "gamma"]
            refs, kind = (gammas, "l1") if gammas else (refs, "l2")
        scores[group.name] = _normalize(
            _score(refs, group.size, kind, grads), normalize
        )
    return scores


def _score(refs, size, kind, grads):
    total = np.zeros(size, dtype=np.float64)
    for ref in refs:
        w = _rows(ref, np.asarray(ref.variable.numpy(), np.float64))
        if kind == "l1":
            per = np.abs(w).sum(axis=1)
        elif kind == "l2":
            per = np.square(w).sum(axis=1)
        else:
            g = grads.get(id(ref.variable))
            if g is None:
                continue
            per = (w * _rows(ref, g)).sum(axis=1)
        np.add.at(total, ref.channels, per)
    if kind == "l2":
        return np.sqrt(total)
    return np.abs(total) if kind == "taylor" else total


def _rows(ref, value):
    value = np.take(value, ref.positions, axis=ref.axis)
    return np.moveaxis(value, ref.axis, 0).reshape(len(ref.positions), -1)


def _normalize(score, normalize):
    if normalize is None:
        return score
    reduce = {"mean": np.mean, "max": np.max, "sum": np.sum}[normalize]
    scale = float(reduce(score))
    return score / scale if scale > 0 else score


def _batches(data):
    parts = array_data.array_parts(data, labelled=True)
    if parts is not None:
        # Arrays `(x, y[, sample_weight])`: one batch.
        x, y, weight = parts
        x = tuple(x) if isinstance(x, list) else x
        return [(x, y) if weight is None else (x, y, weight)]
    if isinstance(data, tuple) and len(data) == 2:
        return [data]
    if hasattr(data, "shape") and not hasattr(data, "element_spec"):
        raise _unlabelled(data)
    return data


def _unpack(batch):
    """`(x, y, sample_weight)` of a labelled batch."""
    if isinstance(batch, (tuple, list)) and 2 <= len(batch) <= 3:
        x, y, weight = keras.utils.unpack_x_y_sample_weight(tuple(batch))
        if y is not None:
            return x, y, weight
    raise _unlabelled(batch)


def _unlabelled(value):
    shape = getattr(value, "shape", None)
    what = type(value).__name__
    if shape is not None:
        what += f" of shape {tuple(shape)}"
    return ValueError(
        "Invalid value for argument `data`. The 'taylor' criterion needs "
        "labels: expected a batch `(x, y)` (or `(x, y, sample_weight)`) or "
        f"an iterable of such batches. Received: {what}"
    )


def _gradients(model, data, loss):
    import tensorflow as tf

    if data is None:
        raise ValueError(
            "The 'taylor' criterion needs `data`: a batch `(x, y)` or an "
            "iterable of batches. Received: data=None"
        )
    if loss is None and not getattr(model, "compiled", False):
        raise ValueError(
            "The 'taylor' criterion needs a loss: compile the model or pass "
            "`loss=`. Received: loss=None with an uncompiled model"
        )
    loss_fn = keras.losses.get(loss) if loss is not None else None
    variables = model.trainable_variables
    sums = [np.zeros(v.shape, np.float64) for v in variables]
    seen = 0
    for batch in _batches(data):
        x, y, weight = _unpack(batch)
        if _batch_size(x) == 0:
            continue
        seen += 1
        with tf.GradientTape() as tape:
            pred = model(x, training=False)
            if loss_fn is None:
                value = model.compute_loss(
                    x=x, y=y, y_pred=pred, sample_weight=weight
                )
            else:
                value = _weighted_loss(loss_fn, y, pred, weight)
        for s, g in zip(sums, tape.gradient(value, variables)):
            if g is not None:
                s += np.asarray(g, np.float64)
    if not seen:
        raise ValueError(
            "Invalid value for argument `data`: the 'taylor' criterion "
            "scores channels by gradients over `data`, but data holds no "
            "batch (or only empty ones). Received: "
            f"data of type {type(data).__name__}"
        )
    return {id(v): s for v, s in zip(variables, sums)}


def _weighted_loss(loss_fn, y, pred, weight):
    """The batch loss as `fit` weighs it: a `Loss` takes the weights, a
    plain function's per-sample values are weighted and averaged."""
    if isinstance(loss_fn, keras.losses.Loss):
        return loss_fn(y, pred, sample_weight=weight)
    values = loss_fn(y, pred)
    if weight is not None:
        weight = keras.ops.cast(weight, values.dtype)
        values = values * keras.ops.reshape(weight, keras.ops.shape(values))
    return keras.ops.mean(values)


def _batch_size(x):
    first = x
    while isinstance(first, (tuple, list)) and first:
        first = first[0]
    if isinstance(first, dict) and first:
        first = next(iter(first.values()))
    shape = getattr(first, "shape", None)
    if shape is None or len(shape) == 0 or shape[0] is None:
        return None
    return int(shape[0])
