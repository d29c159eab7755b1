"""Reading what the LiteRT benchmark tools print.

Two tools are understood:

- `benchmark_model`, the C++ LiteRT/TFLite benchmark binary (built from
  the LiteRT sources, or the prebuilt Android/Linux binaries). It prints
  init time, warmup and inference statistics, the memory footprint and,
  with `--enable_op_profiling=true`, per-op profile tables.
- `litert-benchmark`, the Python benchmark that ships with ai-edge-litert
  (`ai_edge_litert.tools.benchmark_litert_model`): init time and latency
  statistics, written as JSON with `--result_json`; no memory footprint
  and no per-op profile.

`tf_compact.lite.benchmark_runner` runs them; `tf_compact.pruning.latency_table`
reads per-probe logs of `benchmark_model` with them.
"""

import json
import re

_PREFIX = re.compile(r"^(?:INFO:\s*)?")
_STAT = re.compile(r"(\w+)=(-?[\d.]+(?:e[-+]?\d+)?)")
_TIMINGS = re.compile(
    r"Inference timings in us: Init: ([\d.]+), First inference: ([\d.]+), "
    r"Warmup \(avg\): ([\d.]+), Inference \(avg\): ([\d.]+)"
)
_MEMORY = re.compile(
    r"(?:Memory footprint delta from the start of the tool|"
    r"Peak memory footprint) \(MB\): init=([\d.]+) overall=([\d.]+)"
)
_PEAK = re.compile(
    r"Overall peak memory footprint \(MB\) via periodic monitoring: ([\d.]+)"
)
_TABLE = re.compile(r"^=+ (.+?) =+$")
_REGULAR = "Operator-wise Profiling Info for Regular Benchmark Runs"
_TEXT_RESULTS = {
    "Model initialization": "init_ms",
    "Warmup (first)": "first_ms",
    "Warmup (avg)": "warmup_mean_ms",
    "Inference (avg)": "mean_ms",
    "Inference (min)": "min_ms",
    "Inference (max)": "max_ms",
    "Inference (median)": "median_ms",
    "Inference (std)": "std_ms",
    "Inference (p5)": "p5_ms",
    "Inference (p95)": "p95_ms",
}


class BenchmarkToolError(RuntimeError):
    """The benchmark tool failed or printed nothing it could be read from.

    Raised by `parse_benchmark_model` and `parse_litert_benchmark` when the
    text holds no latency, and when running the tool fails; the message
    quotes the end of what the tool printed.

    Example:

    ```python
    try:
        parsed = tfc.lite.parse_benchmark_model(output_text)
    except tfc.lite.BenchmarkToolError as error:
        print("no timings:", error)
    ```
    """


def log_lines(text):
    """The lines a tool printed, without their `INFO:` prefixes."""
    return [_PREFIX.sub("", line.rstrip("\r")) for line in text.splitlines()]


def _stat_line(line):
    """`count=.. first=.. avg=..` as a dict of floats, or `None`."""
    if not line.startswith("count="):
        return None
    return {k: float(v) for k, v in _STAT.findall(line)}


def _header(line):
    cells = [c.strip() for c in line.split("\t")]
    return [c.strip("[]").lower() for c in cells if c]


def _number(text):
    return float(text.rstrip("%"))


def _profile_row(columns, line):
    cells = [c.strip() for c in line.split("\t")]
    cells = cells[1:] if cells and not cells[0] else cells
    if len(cells) != len(columns):
        return None
    raw = dict(zip(columns, cells))
    name = raw.get("name", "")
    match = re.search(r":(\d+)$", name)
    try:
        return {
            "node_type": raw["node type"],
            "name": name,
            "node_index": int(match.group(1)) if match else None,
            "first_ms": _number(raw["first"]),
            "avg_ms": _number(raw["avg ms"]),
            "percent": _number(raw["%"]),
            "cdf_percent": _number(raw["cdf%"]),
            "mem_kb": _number(raw["mem kb"]),
            "times_called": int(_number(raw["times called"])),
        }
    except (KeyError, ValueError):
        return None


def _run_order_tables(lines):
    """Run Order tables, each with the section it belongs to."""
    tables, section, index = [], None, 0
    while index < len(lines):
        line = lines[index]
        if line.endswith(":") and "Profiling Info" in line:
            section = line[:-1]
        elif line.startswith("Delegate internal"):
            section = "Delegate internal"
        match = _TABLE.match(line.strip())
        if match and match.group(1) == "Run Order" and index + 1 < len(lines):
            columns = _header(lines[index + 1])
            rows, index = [], index + 2
            while index < len(lines) and lines[index].strip():
                row = _profile_row(columns, lines[index])
                if row is not None:
                    rows.append(row)
                index += 1
            tables.append((section, rows))
            continue
        index += 1
    return tables


def parse_benchmark_model(text):
    """Reads the output of the C++ `benchmark_model` tool.

    Lines may carry the `INFO: ` prefix of newer builds or none (older
    builds). Times are returned in milliseconds.

    Args:
        text: What `benchmark_model` printed (stdout and stderr).

    Returns:
        A dict with `init_ms`, `first_ms`, `warmup_mean_ms`, `mean_ms`,
        `std_ms`, `min_ms`, `max_ms`, `runs` (timed runs), `median_ms`,
        `p5_ms`, `p95_ms` (`None` unless the build prints percentiles),
        `memory_mb` (`{"init", "overall", "peak"}`, values `None` when not
        printed) and `op_profile` (rows of the regular runs' "Run Order"
        table, `[]` without `--enable_op_profiling=true`; delegated runs
        appear as one row per delegate kernel) and `delegate_profile`
        (the "Delegate internal" rows, when printed).

    Raises:
        BenchmarkToolError: If the text holds no inference timings line.

    Example:

    ```python
    parsed = parse_benchmark_model(open("benchmark.log").read())
    print(parsed["mean_ms"], parsed["memory_mb"]["overall"])
    ```
    """
    lines = log_lines(text)
    timings = None
    stats = []
    memory = {"init": None, "overall": None, "peak": None}
    for line in lines:
        stat = _stat_line(line)
        if stat is not None and "avg" in stat and "min" in stat:
            stats.append(stat)
        match = _TIMINGS.search(line)
        if match:
            timings = [float(v) / 1000.0 for v in match.groups()]
        match = _MEMORY.search(line)
        if match:
            memory["init"], memory["overall"] = map(float, match.groups())
        match = _PEAK.search(line)
        if match:
            memory["peak"] = float(match.group(1))
    if timings is None:
        raise BenchmarkToolError(
            "benchmark_model printed no 'Inference timings in us' line; "
            f"its output ends with: {' | '.join(lines[-5:])}"
        )
    regular = stats[1] if len(stats) > 1 else (stats[0] if stats else {})
    in_ms = {
        k: (regular[k] / 1000.0 if k in regular else None)
        for k in ("std", "min", "max", "median", "p5", "p95")
    }
    tables = _run_order_tables(lines)
    op_profile = [r for s, rows in tables if s and _REGULAR in s for r in rows]
    delegate = [
        r for s, rows in tables if s == "Delegate internal" for r in rows
    ]
    return {
        "init_ms": timings[0],
        "first_ms": timings[1],
        "warmup_mean_ms": timings[2],
        "mean_ms": timings[3],
        "std_ms": in_ms["std"],
        "min_ms": in_ms["min"],
        "max_ms": in_ms["max"],
        "median_ms": in_ms["median"],
        "p5_ms": in_ms["p5"],
        "p95_ms": in_ms["p95"],
        "runs": int(regular["count"]) if "count" in regular else None,
        "memory_mb": memory,
        "op_profile": op_profile,
        "delegate_profile": delegate,
    }


def parse_litert_benchmark(result):
    """Reads the results of the `litert-benchmark` tool.

    Args:
        result: Its `--result_json` file's content (a JSON string or the
            parsed dict), or the text it printed (the "BENCHMARK RESULTS"
            block), which carries the same numbers.

    Returns:
        A dict with the keys of `parse_benchmark_model`; `memory_mb` values
        are `None` and `op_profile` is `[]` (the tool measures neither),
        and `fully_accelerated` says whether every op ran on the chosen
        accelerators.

    Raises:
        BenchmarkToolError: If no latency can be read.

    Example:

    ```python
    parsed = parse_litert_benchmark(open("result.json").read())
    print(parsed["median_ms"], parsed["init_ms"])
    ```
    """
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except json.JSONDecodeError:
            return _parse_litert_text(result)
    latency = result.get("latency") if isinstance(result, dict) else None
    if not isinstance(latency, dict) or "avg_ms" not in latency:
        raise BenchmarkToolError(
            "litert-benchmark JSON holds no `latency.avg_ms`; received keys "
            f"{sorted(result) if isinstance(result, dict) else type(result)}"
        )
    parsed = _empty()
    for key, source in (
        ("init_ms", "init_ms"),
        ("first_ms", "warmup_first_ms"),
        ("warmup_mean_ms", "warmup_avg_ms"),
        ("mean_ms", "avg_ms"),
        ("std_ms", "std_ms"),
        ("min_ms", "min_ms"),
        ("max_ms", "max_ms"),
        ("median_ms", "median_ms"),
        ("p5_ms", "p5_ms"),
        ("p95_ms", "p95_ms"),
    ):
        if latency.get(source) is not None:
            parsed[key] = float(latency[source])
    parsed["runs"] = latency.get("num_runs")
    parsed["fully_accelerated"] = result.get("fully_accelerated")
    return parsed


def _empty():
    parsed = dict.fromkeys(
        [
            "init_ms",
            "first_ms",
            "warmup_mean_ms",
            "mean_ms",
            "std_ms",
            "min_ms",
            "max_ms",
            "median_ms",
            "p5_ms",
            "p95_ms",
            "runs",
            "fully_accelerated",
        ]
    )
    parsed["memory_mb"] = {"init": None, "overall": None, "peak": None}
    parsed["op_profile"] = []
    parsed["delegate_profile"] = []
    return parsed


def _parse_litert_text(text):
    parsed = _empty()
    for line in log_lines(text):
        label, _, value = line.partition(":")
        key = _TEXT_RESULTS.get(label.strip())
        match = re.match(r"\s*([\d.]+) ms(?: \((\d+) runs\))?", value)
        if key and match:
            parsed[key] = float(match.group(1))
            if key == "mean_ms" and match.group(2):
                parsed["runs"] = int(match.group(2))
        if label.strip() == "Fully accelerated":
            parsed["fully_accelerated"] = value.strip() == "True"
    if parsed["mean_ms"] is None:
        raise BenchmarkToolError(
            "litert-benchmark printed no 'Inference (avg)' line; its output "
            f"ends with: {' | '.join(log_lines(text)[-5:])}"
        )
    return parsed
