"""`prune(target_latency=...)` corrects its prediction by measurements."""

import importlib

import numpy as np
import pytest

import tf_compact as tfc
from tests.pruning.test_latency import fake_table
from tests.pruning.test_latency import net
from tf_compact.pruning.latency import host_meta
from tf_compact.pruning.latency import measure_side_by_side
from tf_compact.pruning.latency_search import next_limit
from tf_compact.pruning.latency_table import LatencyPredictor
from tf_compact.pruning.latency_table import LatencyTable
from tf_compact.pruning.masks import LatencyUnreached
from tf_compact.pruning.prune import prune
from tf_compact.pruning.prune import prune_masks

search_module = importlib.import_module("tf_compact.pruning.latency_search")
masks_module = importlib.import_module("tf_compact.pruning.masks")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_COMPACT_CACHE", str(tmp_path / "cache"))


def measured_here(model):
    """`fake_table(model)` marked as timed on this machine (so `prune`
    re-measures against it)."""
    config = fake_table(model).get_config()
    return LatencyTable(
        10.0, config["groups"], {"source": "measured", **host_meta(1)}
    )


def fake_machine(monkeypatch, table, law):
    """Stands in for timing: the slim model measures `law(prediction)`
    ms (the additive prediction of its widths), the unpruned model the
    table's time. Returns the list of measured slim times."""
    measured = []

    def side_by_side(models, num_threads, repeats=3):
        small = models["slim"]
        widths = {g.name: g.size for g in tfc.ChannelGraph(small).groups}
        measured.append(law(table.predict(widths), len(measured)))
        return {"slim": measured[-1], "full": table.model_ms}

    monkeypatch.setattr(search_module, "measure_side_by_side", side_by_side)
    return measured


def _widths_of(model):
    return {g.name: g.size for g in tfc.ChannelGraph(model).groups}


def test_prune_tightens_until_the_measurement_fits(monkeypatch):
    model = net()
    table = measured_here(model)
    # The real model is slower than the additive prediction by 2 ms.
    measured = fake_machine(monkeypatch, table, lambda p, n: p + 2.0)
    small = prune(model, target_latency=7.0, latency_table=table)
    assert len(measured) >= 2
    assert measured[0] > 7.0 * 1.1
    assert 7.0 * 0.9 <= measured[-1] <= 7.0 * 1.1
    assert table.predict(_widths_of(small)) + 2.0 == measured[-1]


def test_prune_loosens_when_the_measurement_is_far_under_the_target(
    monkeypatch,
):
    model = net()
    table = measured_here(model)
    # The table over-predicts: the model runs in 60% of its prediction.
    measured = fake_machine(monkeypatch, table, lambda p, n: 0.6 * p)
    small = prune(model, target_latency=6.0, latency_table=table)
    assert measured[0] < 0.9 * 6.0  # the first try was far under
    assert 0.9 * 6.0 <= measured[-1] <= 6.0 * 1.1
    assert 0.6 * table.predict(_widths_of(small)) == measured[-1]


def test_a_target_the_prediction_refuses_is_measured_before_refusing(
    monkeypatch,
):
    model = net()
    table = measured_here(model)
    try:
        prune_masks(model, target_latency=0.01, latency_table=table)
    except LatencyUnreached as unreached:
        smallest = unreached.predicted
    # Deep cuts run in a fifth of their prediction: a target at half the
    # smallest prediction is within reach.
    measured = fake_machine(monkeypatch, table, lambda p, n: 0.2 * p)
    target = 0.5 * smallest
    small = prune(model, target_latency=target, latency_table=table)
    assert 0.9 * target <= measured[-1] <= 1.1 * target
    assert small.count_params() < model.count_params()


def test_a_target_the_smallest_model_misses_is_refused(monkeypatch):
    model = net()
    table = measured_here(model)
    # A fixed cost the prediction does not see: every model measures at
    # least 6 ms, so a 3 ms (or a 5 ms) target cannot be met.
    for target in (3.0, 5.0):
        measured = fake_machine(
            monkeypatch, table, lambda p, n: max(p, 6.0) + 0.01 * n
        )
        with pytest.raises(ValueError, match=r"allow measures 6 ms at best"):
            prune(model, target_latency=target, latency_table=table)
        assert len(measured) >= 2


def test_after_the_last_try_the_smallest_model_decides(monkeypatch):
    monkeypatch.setattr(search_module, "LATENCY_RETRIES", 0)
    model = net()
    table = measured_here(model)
    measured = fake_machine(monkeypatch, table, lambda p, n: p + 2.0)
    # One try, above the target; the smallest model fits, far under it.
    with pytest.warns(UserWarning, match="under it: no width"):
        small = prune(model, target_latency=7.0, latency_table=table)
    assert len(measured) == 2 and measured[0] > 7.0 * 1.1
    assert measured[1] < 0.9 * 7.0
    assert table.predict(_widths_of(small)) + 2.0 == measured[1]


def test_savings_beyond_the_model_still_reach_the_target(monkeypatch):
    model = net()
    graph = tfc.ChannelGraph(model)
    full = tfc.estimate_slim_cost(model)[0]
    # Each group alone "saves" three times its share of the MACs: deep
    # cuts are all predicted at 0 ms.
    groups = {}
    for g in graph.groups:
        groups[g.name] = {}
        for w in (1, g.size // 4, g.size // 2, g.size):
            mask = {g.name: np.arange(g.size) < w} if w < g.size else {}
            cost = tfc.estimate_slim_cost(model, mask)[0]
            groups[g.name][w] = 30.0 * cost / full
    table = LatencyTable(10.0, groups, {"source": "measured", **host_meta(1)})
    measured = []

    def side_by_side(models, num_threads, repeats=3):
        macs = tfc.estimate_slim_cost(models["slim"])[0]
        measured.append(0.5 + 9.5 * macs / full)
        return {"slim": measured[-1], "full": 10.0}

    monkeypatch.setattr(search_module, "measure_side_by_side", side_by_side)
    # The summed savings of deep cuts exceed the model: they are ordered
    # by the MACs they keep, not all predicted at 0 ms, so the target is
    # reached rather than refused or undershot.
    small = prune(model, target_latency=2.0, latency_table=table)
    macs = tfc.estimate_slim_cost(small)[0]
    assert 0.9 * 2.0 <= 0.5 + 9.5 * macs / full <= 1.1 * 2.0


def test_a_target_above_the_unpruned_model_removes_nothing(monkeypatch):
    model = net()
    table = measured_here(model)
    fake_machine(monkeypatch, table, lambda p, n: p)
    with pytest.warns(UserWarning, match="nothing is removed"):
        small = prune(model, target_latency=15.0, latency_table=table)
    assert small.count_params() == model.count_params()


def test_a_table_timed_on_another_machine_is_not_checked_here(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("another machine's milliseconds")

    monkeypatch.setattr(search_module, "measure_side_by_side", refuse)
    model = net()
    config = measured_here(model).get_config()
    meta = {**config["meta"], "cpu": "another CPU"}
    table = LatencyTable(10.0, config["groups"], meta)
    small = prune(model, target_latency=6.0, latency_table=table)
    assert table.predict(_widths_of(small)) <= 6.0


def test_a_round_disturbed_on_the_unpruned_side_is_measured_again(
    monkeypatch,
):
    model = net()
    table = measured_here(model)
    fulls = iter([10.0, 20.0, 10.0] + [10.0] * 40)
    measured = []

    def side_by_side(models, num_threads, repeats=3):
        widths = _widths_of(models["slim"])
        measured.append(table.predict(widths) + 2.0)
        return {"slim": measured[-1], "full": next(fulls)}

    monkeypatch.setattr(search_module, "measure_side_by_side", side_by_side)
    prune(model, target_latency=7.0, latency_table=table)
    # The second try's first round read the unpruned model at twice its
    # time: measured again, not read as a slim model twice as fast.
    assert measured[1] == measured[2]


def test_tries_far_under_return_the_slowest_that_fits(monkeypatch):
    monkeypatch.setattr(search_module, "LATENCY_RETRIES", 1)
    model = net()
    table = measured_here(model)
    # Two tries, both far under the target: the slower is returned.
    measured = fake_machine(monkeypatch, table, lambda p, n: 0.3 * p)
    small = prune(model, target_latency=6.0, latency_table=table)
    assert len(measured) == 2 and max(measured) < 0.9 * 6.0
    assert 0.3 * table.predict(_widths_of(small)) == max(measured)


def test_each_try_is_reported_unless_quiet(monkeypatch, capsys):
    model = net()
    table = measured_here(model)
    fake_machine(monkeypatch, table, lambda p, n: p + 2.0)
    prune(model, target_latency=7.0, latency_table=table)
    assert "Latency try 2:" in capsys.readouterr().out
    prune(model, target_latency=7.0, latency_table=table, verbose=0)
    assert capsys.readouterr().out == ""


def test_sensitivity_table_is_measured_once_over_the_retries(monkeypatch):
    model = net()
    table = measured_here(model)
    tables = []
    real = masks_module.sensitivity_table

    def counted(*args, **kwargs):
        tables.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(masks_module, "sensitivity_table", counted)
    measured = fake_machine(monkeypatch, table, lambda p, n: p + 2.0)
    images = np.random.default_rng(0).uniform(size=(16, 16, 16, 3))
    prune(
        model,
        target_latency=7.0,
        latency_table=table,
        scope="sensitivity",
        data=images.astype("float32"),
    )
    assert len(measured) >= 2
    assert measured[-1] <= 7.0 * 1.1
    assert len(tables) == 1


@pytest.mark.parametrize(
    "points, target, expected",
    [
        # The secant through the two points measured nearest the target.
        ([(10.0, 10.0), (4.0, 1.0), (6.0, 3.0)], 5.0, 8.0),
        # It leaves the bracket (6, 10): read between the bracket's ends.
        ([(10.0, 10.0), (4.0, 1.0), (6.0, 2.0)], 5.0, 6.0 + 3.0 / 8.0 * 4.0),
        # Nothing measured under the target: the smallest prediction
        # scaled down, or as far as the secant goes (at least 0.3x).
        ([(10.0, 10.0), (6.0, 7.0), (4.0, 4.0)], 3.0, 3.0),
        ([(10.0, 10.0), (6.0, 5.0), (4.0, 4.0)], 3.0, 2.0),
        ([(10.0, 10.0), (4.0, 8.0)], 6.0, 1.2),
        # Nothing over it: the largest, scaled up (at most 3x), or as
        # far as the secant goes.
        ([(4.0, 1.0)], 2.0, 8.0),
        ([(4.0, 1.0)], 9.0, 12.0),
        ([(4.0, 1.0), (2.0, 0.9)], 1.2, 8.0),
        # A point over the target with a smaller prediction than one
        # under it (noise) is not a bracket.
        ([(10.0, 10.0), (5.0, 9.0), (6.0, 2.0)], 6.0, 6.0 + 0.5 * 4.0),
    ],
)
def test_next_limit_reads_the_calibration_curve(points, target, expected):
    points = [(p, m, None) for p, m in points]
    assert next_limit(points, target) == pytest.approx(expected)


def test_measure_side_by_side_times_each_model():
    small, big = net(width=4), net(width=32)
    ms = measure_side_by_side({"small": small, "big": big}, runs=5)
    assert set(ms) == {"small", "big"}
    assert all(v > 0 for v in ms.values())
    with pytest.raises(ValueError, match="num_threads"):
        measure_side_by_side({"small": small}, num_threads=0)


def test_predictor_keeps_a_table_from_elsewhere_unmeasured(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a table from elsewhere is not re-measured")

    monkeypatch.setattr(search_module, "measure_side_by_side", refuse)
    model = net()
    table = fake_table(model)
    small = prune(model, target_latency=6.0, latency_table=table)
    graph = tfc.ChannelGraph(model)
    widths = _widths_of(small)
    masks = {n: np.arange(graph.group(n).size) < w for n, w in widths.items()}
    assert LatencyPredictor(table.for_graph(graph), graph)(masks) <= 6.0
