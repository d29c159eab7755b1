"""Importance criteria and one-shot pruning goals."""

import keras
import numpy as np
import pytest
from keras import layers as L

import tf_compact as tfc
from tests.graph import checks
from tf_compact.pruning import group_importance
from tf_compact.pruning import prune
from tf_compact.pruning import prune_masks


def net():
    x = keras.Input((8, 8, 3))
    y = L.Conv2D(16, 3, padding="same", name="c1")(x)
    y = L.BatchNormalization(name="bn1")(y)
    y = L.ReLU()(y)
    r = L.Conv2D(16, 3, padding="same", name="c2")(y)
    y = L.Add()([y, r])
    y = L.Conv2D(24, 3, strides=2, name="c3")(y)
    y = L.BatchNormalization(name="bn3")(y)
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(3, name="head")(y))


def _x(n=4):
    return np.random.default_rng(0).normal(size=(n, 8, 8, 3)).astype("f4")


def test_l1_l2_bn_gamma_match_numpy():
    model = net()
    graph = tfc.ChannelGraph(model)
    raw = {
        c: group_importance(model, graph, c, normalize=None)
        for c in ("l1", "l2", "bn_gamma")
    }
    k1, b1 = model.get_layer("c1").kernel.numpy(), model.get_layer("c1").bias
    k2, b2 = model.get_layer("c2").kernel.numpy(), model.get_layer("c2").bias
    bn = model.get_layer("bn1")
    parts = [
        k1.reshape(-1, 16),
        b1.numpy()[None],
        k2.reshape(-1, 16),
        b2.numpy()[None],
        bn.gamma.numpy()[None],
        bn.beta.numpy()[None],
    ]
    stacked = np.concatenate(parts)
    np.testing.assert_allclose(
        raw["l1"]["c1"], np.abs(stacked).sum(0), rtol=1e-5
    )
    np.testing.assert_allclose(
        raw["l2"]["c1"], np.sqrt((stacked**2).sum(0)), rtol=1e-5
    )
    np.testing.assert_allclose(
        raw["bn_gamma"]["c1"], np.abs(bn.gamma.numpy()), rtol=1e-6
    )


def test_normalizers():
    model = net()
    for norm, reduce in (("mean", np.mean), ("max", np.max), ("sum", np.sum)):
        for s in group_importance(model, normalize=norm).values():
            np.testing.assert_allclose(reduce(s), 1.0, rtol=1e-6)


def test_taylor_is_first_order_loss_change():
    model = net()
    model.compile(loss="mse")
    x, y = _x(), np.random.default_rng(1).normal(size=(4, 3)).astype("f4")
    scores = group_importance(
        model, criterion="taylor", data=(x, y), normalize=None
    )
    graph = tfc.ChannelGraph(model)
    group = graph.group("c3")
    base = float(keras.losses.mean_squared_error(y, model(x)).numpy().mean())
    # Zeroing a channel with a tiny step follows the first-order estimate.
    eps = 1e-3
    c = int(np.argmax(scores["c3"]))
    for ref in graph.weight_refs(group):
        w = ref.variable.numpy()
        idx = [slice(None)] * w.ndim
        idx[ref.axis] = ref.positions[ref.channels == c]
        w[tuple(idx)] *= 1 - eps
        ref.variable.assign(w)
    moved = float(keras.losses.mean_squared_error(y, model(x)).numpy().mean())
    np.testing.assert_allclose(
        abs(moved - base) / eps, scores["c3"][c], rtol=0.05
    )


def _widths(small):
    return {n: small.get_layer(n).filters for n in ("c1", "c3")}


def test_local_ratio_removes_floor_of_each_group():
    small = prune(net(), 0.5, scope="local")
    assert _widths(small) == {"c1": 8, "c3": 12}


def test_global_ratio_removes_that_share_of_channels():
    model = net()
    masks = prune_masks(model, 0.25)
    removed = sum(int((~m).sum()) for m in masks.values())
    assert removed == round(0.25 * (16 + 24))


def test_round_to_and_min_channels():
    small = prune(net(), 0.9, scope="local", round_to=8)
    assert all(w % 8 == 0 for w in _widths(small).values())
    small = prune(net(), 0.9, scope="local", min_channels=5)
    assert _widths(small) == {"c1": 5, "c3": 5}


def test_targets_are_never_exceeded_on_a_tiny_net():
    model = net()
    graph = tfc.ChannelGraph(model)
    macs0, params0 = tfc.estimate_slim_cost(model, graph=graph)
    for scope in ("global", "local"):
        small = prune(model, target_macs=0.5, scope=scope, graph=graph)
        macs = tfc.estimate_slim_cost(small)[0] / macs0
        assert 0.4 <= macs <= 0.5, (scope, macs)
    small = prune(model, target_params=0.6, graph=graph)
    assert 0.5 <= small.count_params() / params0 <= 0.6


def test_targets_are_met_within_two_percent():
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), alpha=0.35
    )
    graph = tfc.ChannelGraph(model)
    full = tfc.estimate_slim_cost(model, graph=graph)
    cases = [
        ("global", "target_macs", 0.5, None),
        ("local", "target_macs", 0.5, None),
        ("global", "target_params", 0.3, 8),
    ]
    for scope, goal, target, round_to in cases:
        masks = prune_masks(
            model, scope=scope, round_to=round_to, graph=graph, **{goal: target}
        )
        cost = tfc.estimate_slim_cost(model, masks, graph=graph)
        which = 0 if goal == "target_macs" else 1
        reached = cost[which] / full[which]
        assert target - 0.02 <= reached <= target, (scope, goal, reached)


def test_both_targets_together_meet_both():
    # The VGG head holds most parameters, its convolutions most MACs: a
    # prune to either target alone misses the other one.
    model = tfc.models.vgg(blocks=((16, 16), (32,)), dense_units=64)
    graph = tfc.ChannelGraph(model)
    full = tfc.estimate_slim_cost(model, graph=graph)
    for round_to in (None, 8):
        alone = [
            tfc.estimate_slim_cost(
                model,
                prune_masks(model, graph=graph, round_to=round_to, **{k: v}),
                graph=graph,
            )
            for k, v in (("target_macs", 0.3), ("target_params", 0.1))
        ]
        assert alone[0][1] / full[1] > 0.1 or alone[1][0] / full[0] > 0.3
        masks = prune_masks(
            model,
            target_macs=0.3,
            target_params=0.1,
            round_to=round_to,
            graph=graph,
        )
        macs, params = tfc.estimate_slim_cost(model, masks, graph=graph)
        assert macs / full[0] <= 0.3 and params / full[1] <= 0.1
        if round_to is None:  # the smallest removal: one lands close
            assert max(macs / full[0] / 0.3, params / full[1] / 0.1) > 0.9
        small = prune(
            model, target_macs=0.3, target_params=0.1, round_to=round_to
        )
        assert tfc.estimate_slim_cost(small) == (macs, params)


def test_unreachable_joint_target_names_the_one_missed():
    model = net()
    with np.testing.assert_raises_regex(ValueError, "target_params.*0.1%"):
        prune(model, target_macs=0.9, target_params=0.001)


def test_threshold_removes_dead_channels():
    model = net()
    graph = tfc.ChannelGraph(model)
    dead = [1, 5, 6]
    for ref in graph.weight_refs("c3"):
        w = ref.variable.numpy()
        idx = [slice(None)] * w.ndim
        idx[ref.axis] = dead
        w[tuple(idx)] = 0.0
        ref.variable.assign(w)
    masks = prune_masks(model, threshold=1e-8, graph=graph)
    assert list(masks) == ["c3"]
    assert np.nonzero(~masks["c3"])[0].tolist() == dead
    small = prune(model, threshold=1e-8, graph=graph)
    reference = tfc.apply_masks(model, masks, graph=graph)
    np.testing.assert_allclose(small(_x()), model(_x()), atol=1e-5)
    np.testing.assert_allclose(reference(_x()), model(_x()), atol=1e-5)


def test_ignored_layers_keep_their_channels():
    masks = prune_masks(net(), 0.5, scope="local", ignored_layers=["c3"])
    assert list(masks) == ["c1"]


def test_widths_keep_the_best_channels_of_each_named_group():
    model = net()
    graph = tfc.ChannelGraph(model)
    # "c2" is a producer of group "c1" (c1 and c2 meet in the Add).
    masks = prune_masks(model, widths={"c2": 5, "c3": 7}, graph=graph)
    assert sorted(masks) == ["c1", "c3"]
    scores = group_importance(model, graph, "l2")
    for name, count in (("c1", 5), ("c3", 7)):
        kept = np.nonzero(masks[name])[0]
        best = np.argsort(-scores[name], kind="stable")[:count]
        assert sorted(kept.tolist()) == sorted(best.tolist())
    small = prune(model, widths={"c2": 5, "c3": 7}, graph=graph)
    assert small.get_layer("c1").filters == 5
    assert small.get_layer("c2").filters == 5
    assert small.get_layer("c3").filters == 7
    checks.slim_and_check(model, _x(), masks=masks)


def test_widths_full_size_and_criterion():
    model = net()
    assert prune_masks(model, widths={"c1": 16, "c3": 24}) == {}
    gamma = np.random.default_rng(1).uniform(0.1, 2.0, 16).astype("f4")
    model.get_layer("bn1").gamma.assign(gamma)
    by_gamma = prune_masks(model, widths={"c1": 4}, importance="bn_gamma")
    kept = np.nonzero(by_gamma["c1"])[0]
    assert sorted(kept.tolist()) == sorted(np.argsort(-gamma)[:4].tolist())


def test_pruned_model_matches_apply_masks():
    model = net()
    masks = prune_masks(model, target_macs=0.4)
    checks.slim_and_check(model, _x(), masks=masks)


def test_estimate_matches_built_model():
    model = net()
    graph = tfc.ChannelGraph(model)
    masks = checks.random_masks(graph, np.random.default_rng(3))
    small = tfc.slim(model, masks, graph=graph)
    macs, params = tfc.estimate_slim_cost(model, masks, graph=graph)
    assert params == small.count_params()
    assert (macs, params) == tfc.estimate_slim_cost(small)
    macs0, params0 = tfc.estimate_slim_cost(model, graph=graph)
    assert params0 == model.count_params()
    conv_macs = 8 * 8 * 27 * 16 + 8 * 8 * 144 * 16 + 3 * 3 * 144 * 24
    assert macs0 == conv_macs + 24 * 3


def test_a_model_with_nothing_to_prune_says_so():
    # Convolutions in channels_first format form no channel group: a ratio
    # used to return an unchanged copy without a word.
    inputs = keras.Input((3, 12, 12))
    x = keras.layers.Conv2D(8, 3, data_format="channels_first")(inputs)
    x = keras.layers.GlobalAveragePooling2D(data_format="channels_first")(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x), name="cf")
    with pytest.warns(UserWarning, match="'cf' has no channel group"):
        small = tfc.prune(model, ratio=0.5)
    assert small.count_params() == model.count_params()
