"""Width allocation from a measured sensitivity table."""

import keras
import numpy as np
import pytest
from keras import layers as L

import tf_compact as tfc
from tests.graph import checks
from tests.graph import zoo as models
from tf_compact.pruning import allocation
from tf_compact.pruning import group_importance
from tf_compact.pruning import prune
from tf_compact.pruning import prune_masks
from tf_compact.pruning.allocation import allocate
from tf_compact.pruning.selection import keep_count
from tf_compact.pruning.selection import top_mask
from tf_compact.pruning.sensitivity import sensitivity_table
from tf_compact.surgery.cost import cost_from_keep


def net():
    """A small VGG: two convs, a Flatten → Dense head."""
    x = keras.Input((8, 8, 3))
    y = L.Conv2D(16, 3, padding="same", name="c1")(x)
    y = L.BatchNormalization(name="bn1")(y)
    y = L.ReLU()(y)
    y = L.Conv2D(24, 3, strides=2, padding="same", name="c3")(y)
    y = L.ReLU()(y)
    y = L.Flatten()(y)
    y = L.Dense(16, activation="relu", name="fc")(y)
    return keras.Model(x, L.Dense(3, name="head")(y))


def _x(n=4):
    return np.random.default_rng(0).normal(size=(n, 8, 8, 3)).astype("f4")


def _softmax(z):
    z = np.asarray(z, "float64")
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_table_is_the_kl_divergence_of_each_cut():
    model = net()
    graph = tfc.ChannelGraph(model)
    scores = group_importance(model, graph, "l2")
    x = _x(8)
    table = sensitivity_table(
        model, graph, scores, x, step=4, recalibrate=False
    )
    assert sorted(table) == ["c1", "c3", "fc"]
    assert sorted(table["c1"]) == [4, 8, 12, 16]
    assert table["c1"][16] == 0.0
    cut = tfc.apply_masks(model, {"c3": top_mask(scores["c3"], 8)}, graph)
    p, q = _softmax(model(x)), _softmax(cut(x))
    expected = np.mean(np.sum(p * (np.log(p) - np.log(q)), -1))
    np.testing.assert_allclose(table["c3"][8], expected, rtol=1e-4)
    assert all(v >= -1e-9 for row in table.values() for v in row.values())


def test_allocate_cuts_the_insensitive_group_first():
    model = net()
    graph = tfc.ChannelGraph(model)
    scores = group_importance(model, graph, "l2")
    table = {
        "c1": dict.fromkeys(range(1, 17), 0.0),
        "c3": {w: float(24 - w) for w in range(1, 25)},
        "fc": {w: float(16 - w) for w in range(1, 17)},
    }
    full = cost_from_keep(graph, graph.keep_elements({}))
    widths = allocate(graph, scores, table, [(1, 0.6)])
    # c1 costs nothing to cut, so it goes down before c3 loses a channel,
    # and c3 takes back what the budget allows.
    masks = {n: top_mask(scores[n], k) for n, k in widths.items()}
    reached = cost_from_keep(graph, graph.keep_elements(masks))
    assert reached[1] <= 0.6 * full[1]
    one_more = dict(widths, c3=min(widths["c3"] + 1, 24))
    more = {n: top_mask(scores[n], k) for n, k in one_more.items()}
    if one_more["c3"] > widths["c3"]:
        assert cost_from_keep(graph, graph.keep_elements(more))[1] > (
            0.6 * full[1]
        )
    flipped = {
        "c1": {w: float(16 - w) for w in range(1, 17)},
        "c3": dict.fromkeys(range(1, 25), 0.0),
        "fc": table["fc"],
    }
    other = allocate(graph, scores, flipped, [(1, 0.6)])
    assert other["c1"] > widths["c1"]
    assert other["c3"] < widths["c3"]


def test_narrowest_width_is_measured():
    model = net()
    graph = tfc.ChannelGraph(model)
    scores = group_importance(model, graph, "l2")
    table = sensitivity_table(model, graph, scores, _x(4), step=1)
    assert min(table["c3"]) == 1
    table = sensitivity_table(model, graph, scores, _x(4), step=4)
    assert min(table["c3"]) == 4


def _flat_table(model):
    """`(graph, scores, table)`: a table where no cut costs anything."""
    graph = tfc.ChannelGraph(model)
    scores = group_importance(model, graph, "l2")
    flat = {
        n: dict.fromkeys(range(1, len(s) + 1), 0.0) for n, s in scores.items()
    }
    return graph, scores, flat


def test_a_flat_table_does_not_cut_a_group_to_one_channel():
    graph, scores, flat = _flat_table(net())
    widths = allocate(graph, scores, flat, [(1, 0.3)])
    share = np.sqrt(0.3) * allocation.FLOOR_SHARE
    for name, width in widths.items():
        assert width >= np.ceil(len(scores[name]) * share)


def _wide_net():
    x = keras.Input((8, 8, 3))
    y = L.Conv2D(64, 3, padding="same", name="c1")(x)
    y = L.Conv2D(64, 3, strides=2, padding="same", name="c2")(y)
    y = L.Flatten()(L.ReLU()(y))
    y = L.Dense(64, activation="relu", name="fc")(y)
    return keras.Model(x, L.Dense(3, name="head")(y))


def test_targets_the_floors_block_narrow_groups_below_them():
    graph, scores, flat = _flat_table(_wide_net())
    target, step = 0.0175, 4
    share = np.sqrt(target) * allocation.FLOOR_SHARE
    floors = {
        n: keep_count(len(s), int(np.ceil(len(s) * share)), 1, step)
        for n, s in scores.items()
    }

    def params(widths):
        masks = {n: top_mask(scores[n], k) for n, k in widths.items()}
        return cost_from_keep(graph, graph.keep_elements(masks))[1]

    full = params({n: len(s) for n, s in scores.items()})
    # Rounded up to the step, the floors alone cost more than the target.
    assert params(floors) > target * full
    widths = allocate(graph, scores, flat, [(1, target)], step=step)
    assert params(widths) <= target * full
    assert any(widths[n] < floors[n] for n in widths)
    assert all(w >= step and w % step == 0 for w in widths.values())


def test_sensitivity_prune_meets_the_targets_and_slims_exactly():
    model = net()
    graph = tfc.ChannelGraph(model)
    x = _x(8)
    masks = prune_masks(
        model,
        target_macs=0.5,
        target_params=0.6,
        scope="sensitivity",
        data=x,
        round_to=2,
        graph=graph,
    )
    full = cost_from_keep(graph, graph.keep_elements({}))
    reached = cost_from_keep(graph, graph.keep_elements(masks))
    assert reached[0] <= 0.5 * full[0] and reached[1] <= 0.6 * full[1]
    scores = group_importance(model, graph, "l2")
    for name, mask in masks.items():
        kept = int(mask.sum())
        assert kept % 2 == 0
        best = np.argsort(-scores[name], kind="stable")[:kept]
        assert sorted(np.nonzero(mask)[0].tolist()) == sorted(best.tolist())
    checks.slim_and_check(model, x, masks=masks)
    small = prune(model, target_macs=0.5, scope="sensitivity", data=x)
    assert tfc.estimate_slim_cost(small)[0] <= 0.5 * full[0]


def test_sensitivity_reads_batches_of_a_dataset():
    import tensorflow as tf

    model = net()
    x = _x(16)
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(16))).batch(4)
    a = prune_masks(model, target_params=0.5, scope="sensitivity", data=data)
    b = prune_masks(model, target_params=0.5, scope="sensitivity", data=x)
    assert a and set(a) <= {"c1", "c3", "fc"}
    assert b and set(b) <= {"c1", "c3", "fc"}


def test_sensitivity_reads_the_arrays_of_a_two_input_model():
    image = keras.Input((8, 8, 3))
    meta = keras.Input((4,))
    h = L.GlobalAveragePooling2D()(L.Conv2D(8, 3, name="conv")(image))
    h = L.Concatenate()([h, L.Dense(8, name="meta_fc")(meta)])
    model = keras.Model([image, meta], L.Dense(3, name="out")(h))
    x = (_x(8), np.random.default_rng(2).normal(size=(8, 4)))
    y = np.zeros(8, "int32")
    masks = [
        prune_masks(model, target_params=0.6, scope="sensitivity", data=d)
        for d in ((x, y), (list(x), y), (x, y, np.ones(8)))
    ]
    assert masks[0] and set(masks[0]) <= {"conv", "meta_fc"}
    for other in masks[1:]:
        assert {k: v.tolist() for k, v in other.items()} == {
            k: v.tolist() for k, v in masks[0].items()
        }


def test_softmax_output_is_not_softmaxed_twice():
    x = keras.Input((8, 8, 3))
    y = L.Conv2D(8, 3, name="c1")(x)
    y = L.GlobalAveragePooling2D()(y)
    model = keras.Model(x, L.Dense(3, activation="softmax", name="head")(y))
    graph = tfc.ChannelGraph(model)
    scores = group_importance(model, graph, "l2")
    table = sensitivity_table(model, graph, scores, _x(4), step=4)
    cut = tfc.apply_masks(model, {"c1": top_mask(scores["c1"], 4)}, graph)
    p = np.asarray(model(_x(4)), "float64")
    q = np.asarray(cut(_x(4)), "float64")
    expected = np.mean(np.sum(p * (np.log(p) - np.log(q)), -1))
    np.testing.assert_allclose(table["c1"][4], expected, rtol=1e-4)


def _per_pixel(softmax):
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3))
    y = L.Conv2D(8, 3, padding="same", name="c1")(x)
    y = L.Conv2D(4, 1, name="seg")(y)
    if softmax:
        y = L.Softmax()(y)
    return keras.Model(x, y)


def test_per_pixel_outputs_are_one_distribution_per_pixel():
    tables = []
    for softmax in (False, True):
        model = _per_pixel(softmax)
        graph = tfc.ChannelGraph(model)
        scores = group_importance(model, graph, "l2")
        tables.append(sensitivity_table(model, graph, scores, _x(4), step=4))
    # The same function with the softmax inside or not: the same table.
    for width, value in tables[1]["c1"].items():
        np.testing.assert_allclose(tables[0]["c1"][width], value, rtol=1e-4)
    model = _per_pixel(True)
    graph = tfc.ChannelGraph(model)
    scores = group_importance(model, graph, "l2")
    cut = tfc.apply_masks(model, {"c1": top_mask(scores["c1"], 4)}, graph)
    p = np.asarray(model(_x(4)), "float64").reshape(-1, 4)
    q = np.asarray(cut(_x(4)), "float64").reshape(-1, 4)
    expected = np.mean(np.sum(p * (np.log(p) - np.log(q)), -1))
    np.testing.assert_allclose(tables[1]["c1"][4], expected, rtol=1e-4)


def test_a_regression_model_is_refused():
    model = _per_pixel(False)
    model.compile("adam", loss="mse")
    graph = tfc.ChannelGraph(model)
    scores = group_importance(model, graph, "l2")
    with pytest.raises(ValueError, match="regression loss 'mse'"):
        sensitivity_table(model, graph, scores, _x(4), step=4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ratio": 0.5, "data": "x"}, "does not apply to `ratio`"),
        ({"threshold": 0.1, "data": "x"}, "does not apply to `threshold`"),
        ({"target_macs": 0.5}, "pass `data`"),
        ({"target_macs": 0.5, "data": []}, "held no batch"),
    ],
)
def test_bad_sensitivity_arguments(kwargs, match):
    model = net()
    if kwargs.get("data") == "x":
        kwargs["data"] = _x(2)
    with pytest.raises(ValueError, match=match):
        prune(model, scope="sensitivity", **kwargs)


def test_multi_output_model_is_refused():
    x = keras.Input((8, 8, 3))
    y = L.Conv2D(8, 3, name="c1")(x)
    y = L.GlobalAveragePooling2D()(y)
    model = keras.Model(x, [L.Dense(3, name="a")(y), L.Dense(2, name="b")(y)])
    with pytest.raises(ValueError, match="single-output"):
        prune(model, target_macs=0.5, scope="sensitivity", data=_x(2))


def test_data_of_another_shape_is_refused_naming_data():
    wrong = np.zeros((4, 16, 16, 3), "float32")
    with pytest.raises(ValueError, match=r"`data`.*\(None, 8, 8, 3\)"):
        prune(net(), target_macs=0.5, scope="sensitivity", data=wrong)


def test_progress_is_shown_unless_verbose_is_0(capsys):
    model = net()
    prune(model, target_macs=0.5, scope="sensitivity", data=_x(8))
    shown = capsys.readouterr().out
    assert "Sensitivity of 3 channel groups" in shown
    assert "3/3" in shown
    prune(model, target_macs=0.5, scope="sensitivity", data=_x(8), verbose=0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "build", [net, models.residual, models.concat, models.se_block]
)
def test_allocation_by_cost_changes_equals_recosting_the_model(
    build, monkeypatch
):
    """Each trial adds the cost change of the layers its group touches;
    recosting the whole model for every trial allocates the same widths."""
    model = build()
    graph = tfc.ChannelGraph(model)
    rng = np.random.default_rng(0)
    scores = {g.name: rng.random(g.size) for g in graph.groups}
    table = {}
    for g in graph.groups:
        widths = sorted({max(1, g.size * j // 8) for j in range(8)} | {g.size})
        losses = np.sort(rng.random(len(widths)))[::-1]
        losses[-1] = 0.0
        table[g.name] = dict(zip(widths, losses.tolist()))
    targets = [(0, 0.3), (1, 0.1)]
    fast = allocate(graph, scores, table, targets, step=4)
    monkeypatch.setattr(
        allocation._Allocation,
        "trial",
        lambda self, name, width: self.cost({**self.widths, name: width}),
    )
    assert allocate(graph, scores, table, targets, step=4) == fast
