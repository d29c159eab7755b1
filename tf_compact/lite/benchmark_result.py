"""What a TFLite benchmark measured, and the markdown table that compares
several results."""

import dataclasses


@dataclasses.dataclass
class BenchmarkResult:
    """What `tfc.lite.benchmark` measured.

    Args:
        name: Label of the model in tables.
        runtime: Interpreter runtime that ran (see `make_interpreter`).
        delegate: `"edgetpu"` if the Edge TPU delegate ran, `"xnnpack"` if
            the XNNPACK delegate ran, else `"none"`.
        num_threads: Interpreter threads.
        median_ms: Median latency of one invoke, in milliseconds.
        p90_ms: 90th percentile latency, in milliseconds.
        mean_ms: Mean latency, in milliseconds.
        size_bytes: Size of the `.tflite` flatbuffer.
        runs: Timed invokes.
        warmup: Untimed invokes before them.
        accuracy: Top-1 accuracy over the dataset through the interpreter,
            or `None`. Defaults to `None`.
        scored_output: Name of the output that `accuracy` scores (see
            `tfc.lite.interpreter_io.model_io`), or `None` without a dataset.
            Defaults to `None`.
        attempts: Runtimes tried before the one that ran, with why they
            failed. Defaults to `{}`.
        backend: `"interpreter"` (timed here through the Python API) or
            `"litert-benchmark"` (a LiteRT benchmark tool ran; `runtime`
            names it: `"benchmark_model"` or `"litert-benchmark"`; a
            statistic the tool does not print is `None`). Defaults to
            `"interpreter"`.
        init_ms: Model initialization time reported by the tool, or
            `None`. Defaults to `None`.
        memory_mb: Memory footprint reported by `benchmark_model`:
            `{"init", "overall", "peak"}` in MB (`None` values when not
            printed), or `None`. Defaults to `None`.
        op_profile: Per-op rows of `benchmark_model`'s op profile
            (`node_type`, `name`, `node_index`, `first_ms`, `avg_ms`,
            `percent`, `cdf_percent`, `mem_kb`, `times_called`), or `None`.
            Defaults to `None`.
        command: The tool's command line (model file as `model.tflite`),
            or `None`. Defaults to `None`.

    Example:

    ```python
    result = tfc.lite.benchmark(tflite)
    print(result.median_ms, result.runtime, result.delegate)
    ```
    """

    name: str
    runtime: str
    delegate: str
    num_threads: int
    median_ms: float
    p90_ms: float
    mean_ms: float
    size_bytes: int
    runs: int
    warmup: int
    accuracy: float = None
    scored_output: str = None
    attempts: dict = dataclasses.field(default_factory=dict)
    backend: str = "interpreter"
    init_ms: float = None
    memory_mb: dict = None
    op_profile: list = None
    command: list = None

    def to_dict(self):
        """Returns the fields as a JSON-compatible dict."""
        return dataclasses.asdict(self)

    def get_config(self):
        """Returns the fields as a JSON-compatible dict."""
        return self.to_dict()

    @classmethod
    def from_config(cls, config):
        """Creates a `BenchmarkResult` from `get_config()` output."""
        return cls(**config)


def compare(results, baseline=0):
    """Formats benchmark results as a markdown table.

    Args:
        results: A list of `BenchmarkResult`.
        baseline: Index of the row that size ratios and speed-ups are
            relative to. Defaults to `0`.

    Returns:
        The table as a string.

    Raises:
        ValueError: If `results` is empty or `baseline` is out of range.

    Example:

    ```python
    print(tfc.lite.compare([teacher_result, slim_result, int8_result]))
    ```
    """
    results = list(results)
    if not results or not 0 <= baseline < len(results):
        raise ValueError(
            "Invalid value for argument `results`/`baseline`. Expected a "
            "non-empty list and an index into it. Received: "
            f"{len(results)} results, baseline={baseline!r}"
        )
    base = results[baseline]
    lines = [
        "| model | size KiB | size ratio | runtime | delegate | threads "
        "| median ms | p90 ms | mean ms | speed-up | accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def ms(value):
        return "" if value is None else f"{value:.3f}"

    def typical(r):
        return r.median_ms if r.median_ms is not None else r.mean_ms

    for r in results:
        acc = "" if r.accuracy is None else f"{100 * r.accuracy:.2f}%"
        lines.append(
            f"| {r.name} | {r.size_bytes / 1024:.1f} | "
            f"{r.size_bytes / base.size_bytes:.3f} | {r.runtime} | "
            f"{r.delegate} | {r.num_threads} | {ms(r.median_ms)} | "
            f"{ms(r.p90_ms)} | {ms(r.mean_ms)} | "
            f"{typical(base) / typical(r):.2f}x | {acc} |"
        )
    return "\n".join(lines)
