"""Test helpers shared by the graph, surgery and pruning tests."""

import warnings

import numpy as np

from tf_compact.graph.channel_graph import ChannelGraph
from tf_compact.profile import profile
from tf_compact.surgery.apply_masks import apply_masks
from tf_compact.surgery.slim import slim


def random_masks(graph, rng, keep_prob=0.5):
    """One random mask per group, keeping a channel of every producer."""
    masks = {}
    for group in graph.groups:
        mask = rng.random(group.size) < keep_prob
        for _, channels in graph.segments[group.name]:
            if not mask[channels].any():
                mask[rng.choice(channels)] = True
        masks[group.name] = mask
    return masks


def relative_diff(a, b):
    """Max abs difference of two outputs over the scale of `b`."""
    a = [np.asarray(t) for t in _as_list(a)]
    b = [np.asarray(t) for t in _as_list(b)]
    scale = max(max(float(np.abs(t).max()) for t in b), 1e-6)
    return max(float(np.abs(s - t).max()) for s, t in zip(a, b)) / scale


def profiled_cost(model):
    """`(macs, params)` of `model` as `tf_compact.profile` counts them."""
    with warnings.catch_warnings():
        # Layers without MACs (e.g. StochasticDepth) are named in a warning.
        warnings.simplefilter("ignore")
        prof = profile(model)
    return prof.macs, prof.params


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def slim_and_check(model, x, masks=None, seed=0, tol=1e-4):
    """Slims `model` and asserts it computes what `apply_masks` computes.

    Returns:
        `(graph, masks, slim_model)`.
    """
    graph = ChannelGraph(model)
    if masks is None:
        masks = random_masks(graph, np.random.default_rng(seed))
    small = slim(model, masks, graph=graph)
    reference = apply_masks(model, masks, graph=graph)
    diff = relative_diff(small(x), reference(x))
    assert diff <= tol, f"slim != apply_masks: relative diff {diff}"
    return graph, masks, small
