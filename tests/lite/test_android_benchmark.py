"""benchmark(backend="litert-benchmark"): the LiteRT benchmark tools."""

import json
import os
import shutil
import sys

import pytest

import tf_compact as tfc
from tests.lite import helpers
from tf_compact.internal import benchmark_tool

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


@pytest.fixture(scope="module")
def content():
    return tfc.lite.convert(helpers.tiny_cnn(), verify=False)


def _fake_tool(directory, fixture, exit_code=0, name="benchmark_model"):
    """A stand-in for the binary: records its flags, prints a fixture."""
    path = os.path.join(directory, name)
    log = os.path.join(directory, "argv.json")
    with open(path, "w") as f:
        f.write(
            f"#!{sys.executable}\n"
            "import json, os, sys\n"
            "flags = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n"
            "flags['graph_exists'] = os.path.isfile(flags.get('graph', ''))\n"
            f"json.dump(flags, open({log!r}, 'w'))\n"
            f"sys.stdout.write(open({os.path.join(FIXTURES, fixture)!r})"
            ".read())\n"
            f"sys.exit({exit_code})\n"
        )
    os.chmod(path, 0o755)
    return path, log


def test_parses_op_profiling_output():
    parsed = benchmark_tool.parse_benchmark_model(
        _fixture("benchmark_model_op_profiling.txt")
    )
    assert parsed["init_ms"] == pytest.approx(3.415)
    assert parsed["first_ms"] == pytest.approx(2.214)
    assert parsed["warmup_mean_ms"] == pytest.approx(1.75892)
    assert parsed["mean_ms"] == pytest.approx(1.75238)
    assert (parsed["min_ms"], parsed["max_ms"]) == pytest.approx((1.699, 2.051))
    assert parsed["std_ms"] == pytest.approx(0.037)
    assert parsed["runs"] == 571
    assert parsed["median_ms"] is None
    assert parsed["memory_mb"] == {
        "init": 2.85156,
        "overall": 3.60547,
        "peak": 9.13672,
    }
    rows = parsed["op_profile"]
    assert [r["node_type"] for r in rows] == [
        "CONV_2D",
        "CONV_2D",
        "MEAN",
        "FULLY_CONNECTED",
    ]
    assert [r["node_index"] for r in rows] == [0, 1, 2, 3]
    assert [r["avg_ms"] for r in rows] == [0.498, 1.187, 0.058, 0.005]
    assert rows[1]["first_ms"] == 1.204 and rows[1]["times_called"] == 1
    assert rows[-1]["cdf_percent"] == 100.0
    assert rows[0]["name"].startswith("[sequential_1/conv2d_1/Relu;")
    assert parsed["delegate_profile"] == []


def test_parses_older_output_without_profile():
    parsed = benchmark_tool.parse_benchmark_model(
        _fixture("benchmark_model_timings.txt")
    )
    assert parsed["init_ms"] == pytest.approx(17.851)
    assert parsed["mean_ms"] == pytest.approx(1.03966)
    assert parsed["runs"] == 1000
    assert parsed["memory_mb"] == {
        "init": 4.52344,
        "overall": 5.78516,
        "peak": None,
    }
    assert parsed["op_profile"] == []


def test_parses_litert_benchmark_json_and_text_alike():
    from_json = benchmark_tool.parse_litert_benchmark(
        _fixture("litert_benchmark_result.json")
    )
    from_text = benchmark_tool.parse_litert_benchmark(
        _fixture("litert_benchmark_stdout.txt")
    )
    assert from_json == from_text
    raw = json.loads(_fixture("litert_benchmark_result.json"))["latency"]
    assert from_json["init_ms"] == raw["init_ms"]
    assert from_json["median_ms"] == raw["median_ms"]
    assert from_json["mean_ms"] == raw["avg_ms"]
    assert from_json["p95_ms"] == raw["p95_ms"]
    assert from_json["runs"] == raw["num_runs"]
    assert from_json["fully_accelerated"] is True
    assert from_json["op_profile"] == []


def test_unreadable_output_is_an_error():
    with pytest.raises(tfc.lite.BenchmarkToolError, match="no 'Inference"):
        benchmark_tool.parse_benchmark_model("STARTING!\nFailed to load\n")
    with pytest.raises(tfc.lite.BenchmarkToolError, match="latency.avg_ms"):
        benchmark_tool.parse_litert_benchmark('{"model": "m"}')


def test_drives_benchmark_model_on_the_path(content, tmp_path, monkeypatch):
    _, log = _fake_tool(str(tmp_path), "benchmark_model_op_profiling.txt")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    result = tfc.lite.benchmark(
        content, backend="litert-benchmark", num_threads=4, runs=50
    )
    with open(log) as f:
        flags = json.load(f)
    assert flags["graph_exists"] is True
    assert flags["num_threads"] == "4"
    assert flags["num_runs"] == "50"
    assert flags["enable_op_profiling"] == "true"
    assert flags["use_xnnpack"] == "true"
    assert result.backend == "litert-benchmark"
    assert result.runtime == "benchmark_model"
    assert result.init_ms == pytest.approx(3.415)
    assert result.mean_ms == pytest.approx(1.75238)
    assert result.memory_mb["overall"] == 3.60547
    assert len(result.op_profile) == 4
    assert result.command[:2] == ["benchmark_model", "--graph=model.tflite"]
    assert result.size_bytes == len(content)
    assert tfc.lite.BenchmarkResult.from_config(result.get_config()) == result
    table = tfc.lite.compare([result])
    assert "| benchmark_model | xnnpack | 4 |  |  | 1.752 | 1.00x |" in table


def test_tool_given_by_path_and_its_failure(content, tmp_path):
    path, _ = _fake_tool(
        str(tmp_path), "benchmark_model_timings.txt", exit_code=3, name="bm"
    )
    with pytest.raises(tfc.lite.BenchmarkToolError, match="exited with 3"):
        tfc.lite.benchmark(content, backend="litert-benchmark", tool=path)
    with pytest.raises(FileNotFoundError, match="benchmark_model"):
        tfc.lite.benchmark(
            content,
            backend="litert-benchmark",
            tool=str(tmp_path / "missing" / "benchmark_model"),
        )


@pytest.mark.skipif(
    shutil.which("litert-benchmark") is None,
    reason="litert-benchmark comes with ai-edge-litert >= 2.3",
)
def test_runs_the_tool_that_ships_with_ai_edge_litert(content):
    result = tfc.lite.benchmark(
        content,
        backend="litert-benchmark",
        tool="litert-benchmark",
        warmup=2,
        runs=5,
    )
    assert result.runtime == "litert-benchmark"
    assert result.runs == 5
    assert result.init_ms > 0 and result.mean_ms >= 0
    assert result.memory_mb == {"init": None, "overall": None, "peak": None}
    assert result.op_profile == []
    assert result.command[-1] == "--result_json=result.json"
    # It always uses XNNPACK: asking for none is refused, not ignored.
    with pytest.raises(ValueError, match="use_xnnpack=False needs"):
        tfc.lite.benchmark(
            content,
            backend="litert-benchmark",
            tool="litert-benchmark",
            use_xnnpack=False,
        )


def test_invalid_backend_arguments(content):
    with pytest.raises(ValueError, match="`backend`. Expected one of"):
        tfc.lite.benchmark(content, backend="adb")
    with pytest.raises(ValueError, match="accuracy"):
        tfc.lite.benchmark(
            content,
            backend="litert-benchmark",
            dataset=(helpers.images(4), [0, 1, 0, 1]),
        )
    with pytest.raises(ValueError, match="chosen with `tool=`"):
        tfc.lite.benchmark(
            content, backend="litert-benchmark", runtime="ai_edge_litert"
        )
