"""One small model per supported layer kind: slim == apply_masks."""

import numpy as np
import pytest

from tests.graph import checks
from tests.graph.zoo import BUILDERS
from tests.graph.zoo import grouped_conv
from tests.graph.zoo import norms
from tests.graph.zoo import residual
from tf_compact.graph import ChannelGraph

MERGES = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


def _input_for(model, batch=2):
    shape = (batch,) + tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(1).normal(size=shape).astype("float32")


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_slim_matches_apply_masks(builder):
    from tf_compact.surgery import estimate_slim_cost
    from tf_compact.surgery import slim

    model = builder()
    x = _input_for(model)
    graph, masks, small = checks.slim_and_check(model, x)
    assert graph.groups, "every test model has something to prune"
    assert any(not m.all() for m in masks.values())
    assert small.count_params() < model.count_params()
    # The analytic cost model counts what the profiler counts.
    assert estimate_slim_cost(model, graph=graph) == checks.profiled_cost(model)
    cost = estimate_slim_cost(model, masks, graph=graph)
    assert cost == checks.profiled_cost(small)
    same = slim(model, {}, graph=graph)
    np.testing.assert_allclose(same(x), model(x), rtol=1e-5, atol=1e-6)
    assert same.count_params() == model.count_params()


@pytest.mark.parametrize("merge_name", MERGES)
def test_every_merge_layer(merge_name):
    model = residual(merge_name)
    checks.slim_and_check(model, _input_for(model))


def test_grouped_conv_channels_are_fixed():
    graph = ChannelGraph(grouped_conv())
    assert [(g.name, g.size) for g in graph.groups] == [("conv2d_2", 6)]


def test_layer_norm_over_channels_fixes_them():
    graph = ChannelGraph(norms())
    sizes = {g.name: g.size for g in graph.groups}
    assert sizes == {"conv2d": 4, "conv2d_2": 6}
