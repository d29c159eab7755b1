"""`estimate_slim_cost` agrees with `tfc.profile` of the slim model.

Both count MACs the same way (convolutions, depthwise and separable
convolutions, transposed convolutions and Dense layers at batch size 1;
element-wise layers apart) and parameters as `model.count_params()`, so the
analytic estimate must equal the profile of the model `slim` builds. The
same check runs on one small model per supported layer kind in
`tests/graph/test_handlers.py`.
"""

import numpy as np
import pytest

import tf_compact as tfc
from tests.graph import checks
from tf_compact import models

REFERENCE = {
    "resnet20": lambda: models.resnet(depth=20, width_multiplier=0.5),
    "mobilenet_v2": lambda: models.mobilenet_v2(
        width_multiplier=0.35, last_channels=64
    ),
    "vgg": lambda: models.vgg(width_multiplier=0.25, dense_units=32),
    "small_cnn": lambda: models.small_cnn(width_multiplier=0.5),
}


def _assert_estimate_matches(model, graph, masks):
    small = tfc.slim(model, masks, graph=graph)
    estimate = tfc.estimate_slim_cost(model, masks, graph=graph)
    assert estimate == checks.profiled_cost(small)
    assert estimate[1] == small.count_params()
    return estimate


def _check_reference(name, keeps):
    model = REFERENCE[name]()
    graph = tfc.ChannelGraph(model)
    full = tfc.estimate_slim_cost(model, graph=graph)
    assert full == checks.profiled_cost(model)
    assert full[1] == model.count_params()
    for seed, keep in enumerate(keeps):
        rng = np.random.default_rng(seed)
        masks = checks.random_masks(graph, rng, keep_prob=keep)
        macs, params = _assert_estimate_matches(model, graph, masks)
        assert macs < full[0] and params < full[1]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_models(name):
    _check_reference(name, keeps=(0.5,))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_models_more_masks(name):
    _check_reference(name, keeps=(0.2, 0.4, 0.6, 0.8))
