"""Latency tables and pruning to a latency budget (`target_latency`)."""

import importlib
import json
import math
import os

import keras
import numpy as np
import pytest
from keras import layers as L

import tf_compact as tfc
from tests.robustness.helpers import assert_unchanged
from tests.robustness.helpers import snapshot
from tf_compact.pruning import latency
from tf_compact.pruning import latency_probes
from tf_compact.pruning.latency import build_latency_table
from tf_compact.pruning.latency import measure_latency
from tf_compact.pruning.latency_table import LatencyPredictor
from tf_compact.pruning.latency_table import LatencyTable
from tf_compact.pruning.prune import prune
from tf_compact.pruning.prune import prune_masks

search_module = importlib.import_module("tf_compact.pruning.latency_search")
masks_module = importlib.import_module("tf_compact.pruning.masks")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_COMPACT_CACHE", str(tmp_path / "cache"))


def net(width=16):
    x = keras.Input((16, 16, 3))
    y = L.Conv2D(width, 3, padding="same", name="c1")(x)
    y = L.BatchNormalization(name="bn1")(y)
    y = L.ReLU()(y)
    y = L.Conv2D(2 * width, 3, padding="same", name="c2")(y)
    y = L.ReLU()(y)
    y = L.MaxPooling2D()(y)
    y = L.Conv2D(2 * width, 3, padding="same", name="c3")(y)
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(4, name="head")(y))


class FakeTimer:
    """Stands in for converting and timing: ms grow with the weights."""

    def __init__(self):
        self.calls = 0

    def __call__(self, model, num_threads, runs, warmup=5, repeats=3):
        self.calls += 1
        return 0.01 + 1e-5 * model.count_params()


def fake_table(model):
    """A hand-written table: time saved is proportional to MACs saved.

    Unpruned 10 ms, of which 8 ms scale with the MACs.
    """
    graph = tfc.ChannelGraph(model)
    full = tfc.estimate_slim_cost(model)[0]
    groups = {}
    for g in graph.groups:
        row = {}
        for w in (1, g.size // 4, g.size // 2, g.size):
            mask = {g.name: np.arange(g.size) < w} if w < g.size else {}
            macs = tfc.estimate_slim_cost(model, mask)[0]
            row[w] = 8.0 * macs / full
        groups[g.name] = row
    return LatencyTable(10.0, groups)


def _widths(masks):
    return {name: int(np.count_nonzero(m)) for name, m in masks.items()}


def test_table_is_cached_keyed_by_threads_cpu_and_runtime(
    monkeypatch, tmp_path
):
    timer = FakeTimer()
    monkeypatch.setattr(latency, "_measure_keras", timer)
    model = net()
    first = build_latency_table(model, points=4)
    probes = sum(len(r[0]) for r in first.groups.values())
    # The whole model and the reference once, every probe once.
    assert timer.calls == 2 + probes
    calls = timer.calls
    second = build_latency_table(model, points=4)
    # Only the whole model and the reference are timed again: the probes
    # come from the cache.
    assert timer.calls == calls + 2
    assert second.get_config()["groups"] == first.get_config()["groups"]
    assert second.model_ms == first.model_ms
    assert list((tmp_path / "cache" / "latency").glob("*.json"))
    build_latency_table(model, points=4, num_threads=2)
    assert timer.calls == calls + 2 + calls
    # Another CPU model times everything again, and so does a runtime
    # of another version.
    monkeypatch.setattr(latency.interpreter, "cpu_name", lambda: "Other CPU")
    build_latency_table(model, points=4)
    assert timer.calls == 3 * calls + 2
    monkeypatch.setattr(
        latency.interpreter, "runtime_version", lambda runtime: "0.0.1"
    )
    build_latency_table(model, points=4)
    assert timer.calls == 4 * calls + 2


def test_cached_probes_follow_the_load_of_the_fresh_timings(monkeypatch):
    model = net()
    timer = FakeTimer()
    monkeypatch.setattr(latency, "_measure_keras", timer)
    quiet = build_latency_table(model, points=3)

    def busy(model, num_threads, runs, warmup=5, repeats=3):
        # A machine twice as busy: everything takes twice as long.
        return 2.0 * FakeTimer()(model, num_threads, runs)

    monkeypatch.setattr(latency, "_measure_keras", busy)
    loaded = build_latency_table(model, points=3)
    assert loaded.model_ms == pytest.approx(2.0 * quiet.model_ms)
    # The probes, read from the cache, are scaled alike, so the predicted
    # fraction of the model's time is the same as on the quiet machine.
    widths = {g: min(row[0]) for g, row in quiet.groups.items()}
    assert loaded.predict(widths) / loaded.model_ms == pytest.approx(
        quiet.predict(widths) / quiet.model_ms
    )
    for name, row in quiet.get_config()["groups"].items():
        again = loaded.get_config()["groups"][name]
        for width, ms in row.items():
            assert again[width] == pytest.approx(2.0 * ms)


def test_the_same_model_built_again_reuses_the_cache(monkeypatch):
    timer = FakeTimer()
    monkeypatch.setattr(latency, "_measure_keras", timer)
    build_latency_table(net(), points=3)
    calls = timer.calls
    # Built again: its unnamed layers get new names (re_lu_3, ...); only
    # the whole model is timed again.
    again = net()
    build_latency_table(again, points=3)
    assert timer.calls == calls + 2
    # Another width is another model.
    build_latency_table(net(width=8), points=3)
    assert timer.calls > calls


def test_measuring_the_table_shows_progress_unless_quiet(monkeypatch, capsys):
    monkeypatch.setattr(latency, "_measure_keras", FakeTimer())
    build_latency_table(net(), points=4, verbose=0)
    assert capsys.readouterr().out == ""
    build_latency_table(net(), points=4)  # progress by default
    shown = capsys.readouterr().out
    assert "Latency of 3 channel groups" in shown and "3/3" in shown


def test_table_rows_widths_and_meta(monkeypatch):
    monkeypatch.setattr(latency, "_measure_keras", FakeTimer())
    table = build_latency_table(net(), points=4, round_to=8)
    assert sorted(table.groups) == ["c1", "c2", "c3"]
    assert table.groups["c1"][0].tolist() == [8, 16]
    assert table.groups["c2"][0].tolist() == [8, 16, 24, 32]
    assert table.measured_here
    assert table.meta["num_threads"] == 1
    assert table.meta["runtime"] in ("ai_edge_litert", "tensorflow")


def test_probe_holds_the_touched_layers_at_the_width():
    graph = tfc.ChannelGraph(net())
    probe = latency_probes.probe_model(graph, "c1", 4)
    names = [layer.name for layer in probe.layers]
    assert names[0] == "probe_in0"
    assert {"c1", "bn1", "c2"} <= set(names) and "c3" not in names
    assert probe.get_layer("c1").filters == 4
    assert probe.get_layer("c2").filters == 32
    assert tuple(probe.inputs[0].shape) == (1, 16, 16, 3)


def test_additive_predictor_is_monotone_in_width():
    table = LatencyTable(
        5.0, {"a": {1: 0.5, 4: 0.4, 8: 1.5, 16: 2.0}, "b": {2: 1, 8: 3}}
    )
    # A noisy row is made non-decreasing in width.
    assert table.groups["a"][1].tolist() == [0.5, 0.5, 1.5, 2.0]
    values = [table.predict({"a": w, "b": 8}) for w in range(1, 17)]
    assert all(x <= y for x, y in zip(values, values[1:]))
    assert table.predict({}) == 5.0
    assert table.predict({"a": 8}) == pytest.approx(4.5)
    assert table.predict({"a": 1, "b": 2}) == pytest.approx(5.0 - 1.5 - 2)
    assert table.predict({"unknown": 1}) == 5.0


def test_predictor_corrects_layers_shared_by_two_cut_groups():
    model = net()
    graph = tfc.ChannelGraph(model)
    table = fake_table(model)
    predict = LatencyPredictor(table, graph)
    half = {g.name: np.arange(g.size) < g.size // 2 for g in graph.groups}
    # One group alone: nothing is counted twice.
    alone = {"c1": half["c1"]}
    assert predict(alone) == pytest.approx(predict.additive(alone))
    # Layer c3 reads group c2 and writes group c3: both shrink it.
    both = {"c2": half["c2"], "c3": half["c3"]}
    assert predict(both) > predict.additive(both)
    assert predict(both) < table.model_ms
    narrower = {"c2": half["c2"], "c3": np.arange(32) < 8}
    assert predict(narrower) < predict(both)


def test_prune_with_injected_table_meets_the_target(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an injected table is not re-measured")

    monkeypatch.setattr(search_module, "measure_side_by_side", refuse)
    monkeypatch.setattr(latency, "_measure_keras", refuse)
    model = net()
    before = snapshot(model)
    table = fake_table(model)
    graph = tfc.ChannelGraph(model)
    predict = LatencyPredictor(table.for_graph(graph), graph)
    masks = prune_masks(model, target_latency=6.0, latency_table=table)
    assert 5.5 < predict(masks) <= 6.0
    assert predict.additive(masks) <= predict(masks)
    small = prune(model, target_latency=np.float32(6.0), latency_table=table)
    widths = {g.name: g.size for g in tfc.ChannelGraph(small).groups}
    assert table.predict(widths) <= 6.0
    assert widths == {**{"c1": 16, "c2": 32, "c3": 32}, **_widths(masks)}
    assert_unchanged(model, before)


def test_latency_and_macs_targets_both_hold():
    model = net()
    table = fake_table(model)
    graph = tfc.ChannelGraph(model)
    full = tfc.estimate_slim_cost(model)
    masks = prune_masks(
        model,
        target_latency=8.0,
        target_macs=0.3,
        latency_table=table,
        round_to=4,
    )
    assert LatencyPredictor(table, graph)(masks) <= 8.0
    assert tfc.estimate_slim_cost(model, masks)[0] <= 0.3 * full[0]
    assert all(w % 4 == 0 for w in _widths(masks).values())
    loose = prune_masks(model, target_latency=8.0, latency_table=table)
    assert sum(_widths(loose).values()) > sum(_widths(masks).values())


def _images(n=16):
    return (
        np.random.default_rng(0).uniform(size=(n, 16, 16, 3)).astype("float32")
    )


def _fake_predictor(model):
    """`(table, predict)`: `fake_table(model)` and its predictor."""
    table = fake_table(model)
    graph = tfc.ChannelGraph(model)
    return table, LatencyPredictor(table.for_graph(graph), graph)


def _by_sensitivity(model, table, target, **kwargs):
    return prune_masks(
        model,
        target_latency=target,
        latency_table=table,
        scope="sensitivity",
        data=_images(),
        **kwargs,
    )


def test_sensitivity_allocation_meets_a_latency_budget(monkeypatch):
    model = net()
    table, predict = _fake_predictor(model)
    masks = _by_sensitivity(model, table, 6.0, round_to=4)
    assert predict(masks) <= 6.0
    assert all(w % 4 == 0 for w in _widths(masks).values())
    # With a MACs target as well, both hold.
    both = _by_sensitivity(model, table, 8.0, target_macs=0.3)
    assert predict(both) <= 8.0
    full = tfc.estimate_slim_cost(model)[0]
    assert tfc.estimate_slim_cost(model, both)[0] <= 0.3 * full
    with pytest.raises(ValueError, match="target_latency"):
        _by_sensitivity(model, table, 0.5)


def test_a_stalled_sensitivity_allocation_falls_back_to_the_global_ranking(
    monkeypatch,
):
    model = net()
    table, predict = _fake_predictor(model)
    # The allocation stalls: every group keeps its full width.
    monkeypatch.setattr(
        masks_module,
        "allocate",
        lambda graph, *args, **kwargs: {g.name: g.size for g in graph.groups},
    )
    with pytest.warns(UserWarning, match="global ranking reaches the target"):
        masks = _by_sensitivity(model, table, 6.0)
    assert predict(masks) <= 6.0
    global_masks = prune_masks(model, target_latency=6.0, latency_table=table)
    assert _widths(masks) == _widths(global_masks)


@pytest.mark.parametrize(
    "value, error",
    [
        (True, TypeError),
        (np.bool_(True), TypeError),
        (float("nan"), ValueError),
        (np.float64("nan"), ValueError),
        (math.inf, ValueError),
        (-math.inf, ValueError),
        (0.0, ValueError),
        (-1.0, ValueError),
        ("2.0", TypeError),
        ([2.0], TypeError),
    ],
)
def test_bad_target_latency_refused(value, error):
    model = net()
    with pytest.raises(error, match="target_latency"):
        prune(model, target_latency=value, latency_table=fake_table(model))
    with pytest.raises(error, match="target_latency"):
        prune_masks(
            model, target_latency=value, latency_table=fake_table(model)
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ratio": 0.5}, "not with `ratio`"),
        ({"threshold": 0.1}, "not with `threshold`"),
        ({"widths": {"c1": 8}}, "not with `widths`"),
        ({"latency_table": {"c1": {8: 1}}}, "latency_table"),
    ],
)
def test_target_latency_with_other_goals_refused(kwargs, match):
    model = net()
    kwargs = {"latency_table": fake_table(model), **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        prune_masks(model, target_latency=5.0, **kwargs)


def test_unreachable_target_latency_names_it():
    model = net()
    with pytest.raises(ValueError, match=r"target_latency.*0\.5"):
        prune(model, target_latency=0.5, latency_table=fake_table(model))


def test_benchmark_model_csv_and_json(tmp_path):
    model = net()
    csv_path = tmp_path / "pixel.csv"
    csv_path.write_text(
        "name,width,avg ms,runs\n"
        "model,,9.0,100\n"
        "c1,4,0.5,100\n"
        "c1,16,1.5,100\n"
        "c2,8,1.0,100\n"
        "c2,32,3.0,100\n"
    )
    table = LatencyTable.from_benchmark_model(csv_path, device="Pixel")
    assert table.model_ms == 9.0
    assert table.meta["source"] == "benchmark_model"
    assert table.meta["device"] == "Pixel"
    assert not table.measured_here
    assert table.predict({"c1": 4, "c2": 8}) == pytest.approx(6.0)
    json_path = tmp_path / "pixel.json"
    json_path.write_text(json.dumps(table.get_config()))
    again = LatencyTable.from_benchmark_model(json_path)
    assert again.predict({"c1": 10}) == pytest.approx(table.predict({"c1": 10}))
    small = prune(model, target_latency=7.5, latency_table=str(csv_path))
    widths = {g.name: g.size for g in tfc.ChannelGraph(small).groups}
    assert table.predict(widths) <= 7.5


_TOOL_LOG = os.path.join(
    os.path.dirname(os.path.dirname(__file__)),
    "lite",
    "fixtures",
    "benchmark_model_timings.txt",
)


def _log_with_average(ms):
    """A real benchmark_model log with its average set to `ms`."""
    with open(_TOOL_LOG) as f:
        text = f.read()
    return text.replace(
        "Inference (avg): 1039.66", f"Inference (avg): {ms * 1000}"
    )


def test_folder_of_benchmark_model_logs_is_a_table(tmp_path):
    model = net()
    probes = tmp_path / "probes"
    written = latency_probes.export_probes(model, str(probes), round_to=4)
    names = sorted(os.path.basename(p)[: -len(".tflite")] for p in written)
    assert "model" in names and "c1@16" in names
    # What a phone run gives: one log per probe, named after it (one with
    # the `.tflite.txt` a shell loop may leave).
    for name in names:
        if name == "model":
            ms = 9.0
        else:
            group, width = name.rsplit("@", 1)
            ms = 0.1 * int(width)
        suffix = ".tflite.txt" if name == "c1@16" else ".txt"
        (probes / (name + suffix)).write_text(_log_with_average(ms))
    table = LatencyTable.from_benchmark_model(probes, device="Pixel")
    assert table.model_ms == pytest.approx(9.0)
    assert table.meta["source"] == "benchmark_model"
    # c1 at 16 channels took 1.6 ms, at 4 0.4 ms: cutting to 4 saves 1.2.
    assert table.predict({"c1": 4}) == pytest.approx(9.0 - 1.2)
    small = prune(model, target_latency=7.0, latency_table=str(probes))
    widths = {g.name: g.size for g in tfc.ChannelGraph(small).groups}
    assert table.for_graph(tfc.ChannelGraph(model)).predict(widths) <= 7.0


@pytest.mark.parametrize(
    "files, match",
    [
        ({"c1@4.txt": 1.0}, "no log of the whole model"),
        ({"model.txt": 9.0, "c1-4.txt": 1.0}, "not named after a probe"),
        ({"model.txt": "Failed to load model"}, "no benchmark_model timings"),
    ],
)
def test_bad_folder_of_logs_refused(tmp_path, files, match):
    for name, ms in files.items():
        text = ms if isinstance(ms, str) else _log_with_average(ms)
        (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=match):
        LatencyTable.from_benchmark_model(tmp_path)


@pytest.mark.parametrize(
    "text, match",
    [
        ("name,width\nmodel,,1\n", "no column 'avg_ms'"),
        ("name,width,avg_ms\nc1,4,0.5\n", "no row named 'model'"),
        ("name,width,avg_ms\nmodel,,2\nc1,four,0.5\n", "row 3"),
        ("name,width,avg_ms\nmodel,,2\nc1,4,nan\n", "groups\\['c1'\\]"),
    ],
)
def test_benchmark_model_bad_files_refused(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        LatencyTable.from_benchmark_model(path)


@pytest.mark.parametrize(
    "groups, match",
    [
        ({"nope": {4: 1.0, 16: 2.0}}, "no channel group or producer .*nope"),
        ({"c1": {4: 1.0, 8: 2.0}}, "full width 16"),
    ],
)
def test_table_not_fitting_the_model_refused(groups, match):
    model = net()
    with pytest.raises(ValueError, match=match):
        prune_masks(
            model,
            target_latency=5.0,
            latency_table=LatencyTable(10.0, groups),
        )


def test_measure_latency_refuses_non_models():
    with pytest.raises(TypeError, match="keras.Model"):
        measure_latency("model.tflite")
    with pytest.raises(ValueError, match="num_threads"):
        measure_latency(net(), num_threads=0)


@pytest.mark.slow
def test_predicted_latency_of_the_pruned_model_meets_the_target():
    model = net(width=64)
    before = snapshot(model)
    measured = build_latency_table(model, points=4, round_to=8, runs=100)
    target = 0.6 * measured.model_ms
    # The same times, as if taken on another device: `prune` keeps the
    # prediction as it is (here it would correct it by measurements,
    # whose figures are a benchmark's).
    config = measured.get_config()
    table = LatencyTable(config["model_ms"], config["groups"], {})
    small = prune(model, target_latency=target, round_to=8, latency_table=table)
    widths = {g.name: g.size for g in tfc.ChannelGraph(small).groups}
    graph = tfc.ChannelGraph(model)
    masks = {n: np.arange(graph.group(n).size) < w for n, w in widths.items()}
    predict = LatencyPredictor(table, graph)
    assert predict.additive(masks) <= predict(masks) <= target
    # Measured latency against the target is a benchmark's figure
    # (`benchmarks/bench_latency_budget.py`), not a unit test's: timings
    # move with the machine's load.
    assert_unchanged(model, before)
