"""The teacher's own structure with fewer channels ("simplified teacher")."""

import math

import keras
import numpy as np

from tf_compact.graph import ChannelGraph
from tf_compact.internal import keras_compat
from tf_compact.lighten import _clone
from tf_compact.surgery.slim import slim

_SELECTIONS = ("first", "l1", "l2")


def width(
    model,
    multiplier,
    round_to=1,
    min_channels=1,
    selection="first",
    reinitialize=False,
):
    """Builds the same network with every prunable width scaled down.

    The student of Jaiswal & Gajjar / Moonshine: the teacher's structure
    with a fraction of its channels. The `tfc.ChannelGraph` of the model
    says which channels are coupled (residual adds, depthwise convolutions,
    concatenations, Flatten→Dense), so every coupled group is narrowed
    consistently; model inputs and outputs keep their size. Each group of
    `size` channels keeps `ceil(multiplier · size / round_to) · round_to`
    channels (at least `min_channels`, at most `size`), and the model is
    rebuilt with `tfc.slim`, which copies the kept channels' weights.

    Args:
        model: a built Sequential or Functional `keras.Model`.
        multiplier: fraction of channels to keep, in (0, 1].
        round_to: round every width up to a multiple of this (8 suits
            most accelerators). Defaults to `1`.
        min_channels: smallest width of a group. Defaults to `1`.
        selection: which channels to keep: `"first"` (the first ones, as
            building the narrow model from scratch would), `"l1"` or
            `"l2"` (the largest group norms, a better starting point for
            distillation). Defaults to `"first"`.
        reinitialize: give the student fresh random weights (its layers'
            own initializers) instead of the teacher's kept weights.
            Defaults to `False`.

    Returns:
        A new Functional `keras.Model` (nested models are flattened by
        `tfc.slim`); the input model is not modified.

    Raises:
        TypeError: if `model` is not a `keras.Model`.
        ValueError: if an argument is out of range or the model is
            subclassed.

    Example:

    ```python
    teacher = tf_compact.models.resnet(depth=20)
    student = tf_compact.lighten.width(teacher, 0.5, round_to=8)
    print(teacher.count_params(), "->", student.count_params())
    ```
    """
    _clone.validate_model(model)
    _validate(multiplier, round_to, min_channels, selection)
    graph = ChannelGraph(model)
    masks = {
        group.name: _mask(
            group,
            graph,
            kept_channels(group.size, multiplier, round_to, min_channels),
            selection,
        )
        for group in graph.groups
    }
    student = slim(model, masks, graph=graph)
    if reinitialize:
        student = _reinitialized(student)
    return student


def kept_channels(size, multiplier, round_to=1, min_channels=1):
    """How many of `size` channels `width` keeps.

    Args:
        size: channels of the group.
        multiplier: fraction to keep, in (0, 1].
        round_to: round up to a multiple of this. Defaults to `1`.
        min_channels: lower bound. Defaults to `1`.

    Returns:
        An int in `[min(min_channels, size), size]`.
    """
    rounded = math.ceil(multiplier * size / round_to - 1e-9) * round_to
    return int(min(size, max(rounded, min_channels, 1)))


def _mask(group, graph, keep, selection):
    mask = np.zeros(group.size, bool)
    if selection == "first":
        mask[:keep] = True
        return mask
    scores = _group_norms(group, graph, ord_=1 if selection == "l1" else 2)
    order = np.argsort(-scores, kind="stable")
    mask[order[:keep]] = True
    return mask


def _group_norms(group, graph, ord_):
    """Per-channel L1 or squared-L2 norm over the group's producer weights."""
    total = np.zeros(group.size)
    for ref in graph.weight_refs(group, roles=("producer",)):
        values = np.asarray(keras.ops.convert_to_numpy(ref.variable))
        values = np.take(values, ref.positions, axis=ref.axis)
        values = np.moveaxis(values, ref.axis, 0)
        values = np.abs(values) if ord_ == 1 else values**2
        per_row = values.reshape(values.shape[0], -1).sum(axis=1)
        np.add.at(total, np.asarray(ref.channels), per_row)
    return total


def _reinitialized(model):
    return keras_compat.clone_model(model)


def _validate(multiplier, round_to, min_channels, selection):
    if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)):
        raise TypeError(
            "Invalid value for argument `multiplier`. Expected a float in "
            f"(0, 1]. Received: multiplier={multiplier!r}"
        )
    if not 0 < multiplier <= 1:
        raise ValueError(
            "Invalid value for argument `multiplier`. Expected a float in "
            f"(0, 1]. Received: multiplier={multiplier}"
        )
    for name, value in (("round_to", round_to), ("min_channels", min_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"Invalid value for argument `{name}`. Expected an integer "
                f">= 1. Received: {name}={value!r}"
            )
    if selection not in _SELECTIONS:
        raise ValueError(
            "Invalid value for argument `selection`. Expected one of "
            f"{_SELECTIONS}. Received: selection={selection!r}"
        )
