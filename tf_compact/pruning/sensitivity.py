"""Per-group widths from a measured sensitivity table (`scope="sensitivity"`).

A global ranking compares channel scores across groups, but a score says
little about what a group's *width* is worth: in a VGG with a Flatten →
Dense head, the dense units all carry similar norms, so the ranking keeps
most of them and starves a convolution in the middle of the network. Here
every group is instead cut alone, to a few widths, and the change of the
model's predictions is measured on a few batches (the KL divergence from
the unpruned model's own predictions, so no labels are needed). Widths are
then removed greedily where the measured loss grows least per unit of the
budget saved, until every target is met, and given back where they help
most while the targets still hold. Inside a group the channels kept are
still the best by the importance criterion.

A cut changes the inputs of the BN layers behind it, so its moving
statistics no longer match; the pipeline recalibrates a slim model before
using it. A model with BN layers is therefore measured, the full model and
every cut, with each BN normalizing by the statistics of its batch (see
`sensitivity_table`'s `recalibrate`).
"""

import contextlib

import keras
import numpy as np

from tf_compact.internal import array_data
from tf_compact.internal import batch_norm
from tf_compact.internal import heads
from tf_compact.internal.input_batches import check_batch_shape
from tf_compact.internal.progress import progress_bar
from tf_compact.pruning.selection import keep_count
from tf_compact.pruning.selection import top_mask
from tf_compact.surgery.apply_masks import apply_masks
from tf_compact.surgery.apply_masks import masked_values

#: Widths measured per group (evenly spaced fractions, plus the full width).
LEVELS = 8
#: Batches of `data` the table is measured on.
BATCHES = 8


def sensitivity_table(
    model,
    graph,
    scores,
    data,
    step=1,
    min_channels=1,
    batches=BATCHES,
    recalibrate="auto",
    verbose=0,
):
    """Loss of `model` with one group at a time cut to a few widths.

    Args:
        model: A single-output classifier (logits, softmax or sigmoid
            output), with one prediction per example or per pixel or step
            (each position a distribution of its own); a model compiled
            with a regression loss is refused.
        graph: Its `ChannelGraph`.
        scores: `{group name: scores}` of the groups to measure; a cut
            keeps the best-scored channels.
        data: An array of inputs, or an iterable of batches (arrays or
            `(x, y)` tuples, e.g. a `tf.data.Dataset`).
        step: Widths are multiples of this (`round_to`). Defaults to `1`.
        min_channels: Smallest width measured. Defaults to `1`.
        batches: Batches of `data` used. Defaults to `BATCHES`.
        recalibrate: Judge the full model and every cut with each BN
            layer normalizing by the statistics of the batch (as after
            the adaptive-BN recalibration the pipeline runs on a slim
            model), not by moving statistics that no longer match a cut's
            weights; batches should then hold tens of examples. Nothing
            of `model` changes either way. `"auto"` does so when the model
            has BN layers; `True` and `False` force it. Defaults to
            `"auto"`.
        verbose: `1` prints what is measured and a progress bar over the
            groups, with the time left; `0` prints nothing. Defaults to
            `0`.

    Returns:
        `{group name: {width: mean KL divergence from the full model}}`
        (averaged over examples and positions), the full width at 0.

    Raises:
        ValueError: If `data` holds no batch, the model has several
            outputs, or `recalibrate` is not `"auto"` or a bool.

    Example:

    ```python
    graph = tfc.ChannelGraph(model)
    scores = tfc.group_importance(model, graph)
    table = sensitivity_table(model, graph, scores, x_train[:512])
    ```
    """
    recalibrate = resolve_recalibrate(recalibrate, model)
    inputs = _inputs(model, data, batches)
    predict = _batch_statistics if recalibrate else _inference
    reference = predict(model, inputs)
    cuts = _Cuts(model, graph)
    table = {}
    bar = progress_bar(
        len(scores),
        verbose,
        f"Sensitivity of {len(scores)} channel groups of '{model.name}', "
        f"each cut to {LEVELS - 1} widths, on {len(inputs)} batches",
        "group",
    )
    for done, (name, score) in enumerate(scores.items(), 1):
        size = len(score)
        # The narrowest width allowed is always measured: below the
        # narrowest measured width the table would read as flat, and the
        # greedy would cut a group to a single channel for free.
        widths = {
            keep_count(size, round(size * j / LEVELS), min_channels, step)
            for j in range(LEVELS)
        }
        row = {size: 0.0}
        for width in sorted(widths - {size}):
            with cuts.cut({name: top_mask(score, width)}) as cut:
                predictions = predict(cut, inputs)
            row[width] = float(
                np.mean([_kl(p, q) for p, q in zip(reference, predictions)])
            )
        table[name] = row
        bar.update(done)
    return table


def resolve_recalibrate(recalibrate, model):
    """`recalibrate` of `sensitivity_table` as a bool for `model`.

    Args:
        recalibrate: `"auto"`, `True` or `False`.
        model: The model measured.

    Returns:
        `True` or `False`; `"auto"` is `True` when `model` has a BN layer.

    Raises:
        ValueError: For any other value.
    """
    if isinstance(recalibrate, (bool, np.bool_)):
        return bool(recalibrate)
    if isinstance(recalibrate, str) and recalibrate == "auto":
        return bool(batch_norm.batch_norm_layers(model))
    raise ValueError(
        "Invalid value for argument `recalibrate`. Expected 'auto', True "
        f"or False. Received: recalibrate={recalibrate!r}"
    )


def _inputs(model, data, batches):
    parts = array_data.array_parts(data)
    if parts is not None:
        # One batch: the inputs of arrays `(x, y[, sample_weight])`.
        x = parts[0]
        found = [tuple(x) if isinstance(x, list) else x]
    elif hasattr(data, "shape"):
        found = [data]
    else:
        found = (b[0] if isinstance(b, (tuple, list)) else b for b in data)
    inputs = []
    for x in found:
        if len(inputs) >= batches:
            break
        first = keras.tree.flatten(x)[0]
        if getattr(first, "shape", (1,))[:1] != (0,):
            check_batch_shape(model, x, len(inputs))
            inputs.append(x)
    if not inputs:
        raise ValueError(
            "Invalid value for argument `data`: scope='sensitivity' "
            "measures the model on `data`, which held no batch (data holds "
            "no batch of examples, or only empty ones). Received: data of "
            f"type {type(data).__name__}"
        )
    return inputs


class _Cuts:
    """Cut models made on one working copy of `model`.

    `cut(masks)` zeroes, in the copy, the weights `apply_masks(model,
    masks)` would zero, yields the copy, and puts the weights back: the
    same model as `apply_masks` without a clone per cut.
    """

    def __init__(self, model, graph):
        self.graph = graph
        self.model = apply_masks(model, {}, graph)
        self._copy_of = {
            id(old): new for old, new in zip(model.weights, self.model.weights)
        }

    @contextlib.contextmanager
    def cut(self, masks):
        values = masked_values(self.graph, self.graph.keep_elements(masks))
        saved = []
        try:
            for key, value in values.items():
                variable = self._copy_of[key]
                saved.append((variable, variable.numpy()))
                variable.assign(value)
            yield self.model
        finally:
            for variable, value in saved:
                variable.assign(value)


def _inference(model, inputs):
    return [_probabilities(model, model(x, training=False)) for x in inputs]


def _batch_statistics(model, inputs):
    """Predictions with every BN on the statistics of its batch, eagerly:
    each model is run on a few batches once, which tracing would not
    repay."""
    norms = batch_norm.batch_norm_layers(model)
    with batch_norm.BatchStatistics(model, norms, compiled=False) as run:
        return [_probabilities(model, run(x)[0]) for x in inputs]


def _probabilities(model, out):
    if isinstance(out, (list, tuple, dict)):
        raise ValueError(
            "scope='sensitivity' needs a single-output classifier; model "
            f"'{model.name}' has {len(out)} outputs."
        )
    found = heads.regression_loss(getattr(model, "loss", None))
    if found is not None:
        raise ValueError(
            "scope='sensitivity' measures how pruning changes a classifier's "
            f"class probabilities; model '{model.name}' is compiled with the "
            f"regression loss {found!r}. Rank channels with scope='global' "
            "or scope='local' instead."
        )
    out = keras.ops.convert_to_numpy(out).astype("float64")
    # One distribution per example, or per pixel or step of the output.
    out = out.reshape(-1, out.shape[-1])
    kind = heads.head_kind(model)
    if heads.is_binary(kind, out.shape[-1]):
        if kind == heads.NONE:
            out = 1.0 / (1.0 + np.exp(-out))
        out = np.stack([1.0 - out, out], axis=-1).reshape(out.shape[0], -1)
    elif kind == heads.NONE:
        out = np.exp(out - out.max(axis=-1, keepdims=True))
        out /= out.sum(axis=-1, keepdims=True)
    return np.clip(out, 1e-12, 1.0)


def _kl(p, q):
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=-1)))
