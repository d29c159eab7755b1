"""Property test: random graphs, random masks, slim == apply_masks.

Hypothesis draws a plain description of a model (1D or 2D, a list of
blocks, widths, a Flatten->Dense or pooling head, a seed); the model is
built from it inside the test, so the strategy itself never touches Keras
(layer construction draws seeds from Python's `random`, which Hypothesis
does not allow inside strategies). For each model and random masks that keep
a channel of every producer:

- `slim(model, masks)(x)` equals `apply_masks(model, masks)(x)` (relative
  to the output scale);
- when anything is removed, parameters and MACs strictly decrease;
- `slim(model, {})` reproduces the original exactly.

The default run draws 25 models (about 20 s on 2 cores shared with other
jobs). The slow-marked run draws 500 (`python -m pytest tests/surgery -m
slow -q`): all 500 passed, in 15 minutes of wall time and under 2 minutes
of CPU time on 2 cores shared with other jobs (load average about 12).
"""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from keras import layers as L

from tests.graph import checks
from tf_compact.graph import ChannelGraph
from tf_compact.graph import MaskError
from tf_compact.surgery import estimate_slim_cost
from tf_compact.surgery import slim

BLOCKS_2D = ["conv", "residual", "concat", "depthwise", "separable", "se"]
BLOCKS_1D = ["conv", "residual", "concat", "depthwise", "separable"]


def _block(kind, y, width, one_d):
    conv = L.Conv1D if one_d else L.Conv2D
    if kind == "conv":
        y = conv(width, 3, padding="same")(y)
        return L.ReLU()(L.BatchNormalization(beta_initializer="ones")(y))
    if kind == "residual":
        r = conv(int(y.shape[-1]), 3, padding="same")(y)
        return L.Add()([y, r])
    if kind == "concat":
        return L.Concatenate()([y, conv(width, 1)(y)])
    if kind == "depthwise":
        dw = L.DepthwiseConv1D if one_d else L.DepthwiseConv2D
        return dw(3, depth_multiplier=2, padding="same")(y)
    if kind == "separable":
        sep = L.SeparableConv1D if one_d else L.SeparableConv2D
        return sep(width, 3, padding="same")(y)
    c = int(y.shape[-1])
    s = L.GlobalAveragePooling2D()(y)
    s = L.Dense(max(c // 2, 1), activation="relu")(s)
    s = L.Reshape((1, 1, c))(L.Dense(c, activation="sigmoid")(s))
    return L.Multiply()([y, s])


@st.composite
def specs(draw):
    """A model description: plain values only, no Keras objects."""
    one_d = draw(st.booleans())
    pool = BLOCKS_1D if one_d else BLOCKS_2D
    return {
        "one_d": one_d,
        "kinds": draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4)),
        "widths": draw(st.lists(st.integers(2, 6), min_size=5, max_size=5)),
        "dense_head": draw(st.one_of(st.none(), st.integers(2, 5))),
        "seed": draw(st.integers(0, 2**16)),
    }


def build(spec):
    """The Functional model that `spec` describes."""
    one_d = spec["one_d"]
    x = keras.Input((5, 2) if one_d else (4, 4, 2))
    y = (L.Conv1D if one_d else L.Conv2D)(spec["widths"][0], 1)(x)
    for kind, width in zip(spec["kinds"], spec["widths"][1:]):
        y = _block(kind, y, width, one_d)
    if spec["dense_head"]:
        y = L.Dense(spec["dense_head"])(L.Flatten()(y))
    elif one_d:
        y = L.GlobalAveragePooling1D()(y)
    else:
        y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(2)(y))


def _check(spec):
    keras.utils.set_random_seed(spec["seed"])
    model = build(spec)
    rng = np.random.default_rng(spec["seed"])
    x = rng.normal(size=(2,) + model.input_shape[1:]).astype("float32")
    graph = ChannelGraph(model)
    assert graph.groups
    _, masks, small = checks.slim_and_check(
        model, x, masks=checks.random_masks(graph, rng)
    )
    if any(not m.all() for m in masks.values()):
        assert small.count_params() < model.count_params()
        macs, _ = estimate_slim_cost(model, masks, graph=graph)
        assert macs < estimate_slim_cost(model, graph=graph)[0]
    same = slim(model, {}, graph=graph)
    np.testing.assert_allclose(same(x), model(x), rtol=1e-6, atol=1e-6)
    keras.backend.clear_session(free_memory=False)


_SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow],
}


@settings(max_examples=25, **_SETTINGS)
@given(spec=specs())
def test_random_graphs(spec):
    _check(spec)


@pytest.mark.slow
@settings(max_examples=500, **_SETTINGS)
@given(spec=specs())
def test_random_graphs_many(spec):
    _check(spec)


def test_a_producer_covering_part_of_a_group_keeps_a_channel():
    x = keras.Input((4, 4, 2))
    a = L.Conv2D(2, 1, name="a")(x)
    b = L.Conv2D(3, 1, name="b")(x)
    y = L.Add()([L.Concatenate()([a, b]), L.Conv2D(5, 1, name="r")(x)])
    model = keras.Model(x, L.Conv2D(2, 1)(y))
    graph = ChannelGraph(model)
    only_b = np.array([False, False, True, False, False])
    with pytest.raises(MaskError, match="every output channel of layer 'a'"):
        slim(model, {"a": only_b}, graph=graph)
    from tf_compact.pruning import prune_masks

    masks = prune_masks(model, 0.9, scope="local", graph=graph)
    assert masks["a"][:2].any() and masks["a"][2:].any()
