"""Running a LiteRT benchmark tool (`benchmark_model` or `litert-benchmark`)
on a `.tflite` model: finding it, its command line, and its parsed output
(see `tf_compact.internal.benchmark_tool`)."""

import os
import shutil
import subprocess
import tempfile

from tf_compact.internal.benchmark_tool import BenchmarkToolError
from tf_compact.internal.benchmark_tool import log_lines
from tf_compact.internal.benchmark_tool import parse_benchmark_model
from tf_compact.internal.benchmark_tool import parse_litert_benchmark

TOOLS = ("benchmark_model", "litert-benchmark")


def find_tool(tool=None):
    """Finds a benchmark tool; returns `(path, kind)`.

    Args:
        tool: A path or a command name, or `None` to look on the PATH for
            `benchmark_model` first (it measures memory and per-op
            profiles), then `litert-benchmark`.

    Returns:
        The executable's path and `"benchmark_model"` or
        `"litert-benchmark"` (by its name: `litert-benchmark` and
        `benchmark_litert_model*` are the Python tool, anything else is
        taken for `benchmark_model`).

    Raises:
        FileNotFoundError: If no tool is found.
    """
    candidates = [tool] if tool is not None else list(TOOLS)
    for candidate in candidates:
        candidate = os.fspath(candidate)
        path = candidate if os.sep in candidate else shutil.which(candidate)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            name = os.path.basename(path)
            python_tool = name.startswith(
                ("litert-benchmark", "benchmark_litert_model")
            )
            return path, "litert-benchmark" if python_tool else TOOLS[0]
    raise FileNotFoundError(
        f"No LiteRT benchmark tool found (looked for {candidates}). "
        "`litert-benchmark` comes with `pip install ai-edge-litert`; the C++ "
        "`benchmark_model` binary is built from the LiteRT sources "
        "(`bazel build -c opt //tflite/tools/benchmark:benchmark_model`) or "
        "taken from LiteRT's prebuilt tools; pass its path as `tool=`."
    )


def tool_command(
    path, kind, graph, num_threads, warmup, runs, use_xnnpack, json_path
):
    """The command line for one run of the tool on `graph`."""
    if kind == "litert-benchmark":
        return [
            path,
            f"--model={graph}",
            f"--num_threads={num_threads}",
            f"--warmup_runs={warmup}",
            f"--num_runs={runs}",
            f"--result_json={json_path}",
        ]
    return [
        path,
        f"--graph={graph}",
        f"--num_threads={num_threads}",
        f"--warmup_runs={warmup}",
        f"--num_runs={runs}",
        f"--use_xnnpack={str(bool(use_xnnpack)).lower()}",
        "--enable_op_profiling=true",
        "--report_peak_memory_footprint=true",
    ]


def run_tool(
    content,
    tool=None,
    num_threads=1,
    warmup=10,
    runs=100,
    use_xnnpack=True,
    extra_args=(),
    timeout=600,
):
    """Writes the model to a file, runs the tool on it, parses the output.

    Args:
        content: The `.tflite` bytes.
        tool: See `find_tool`. Defaults to `None`.
        num_threads: `--num_threads`. Defaults to `1`.
        warmup: `--warmup_runs`. Defaults to `10`.
        runs: `--num_runs` (`benchmark_model` runs at least that many, and
            for at least one second). Defaults to `100`.
        use_xnnpack: `--use_xnnpack` of `benchmark_model`; the
            `litert-benchmark` tool always uses XNNPACK and refuses `False`.
            Defaults to `True`.
        extra_args: More command-line flags, appended. Defaults to `()`.
        timeout: Seconds before the run is stopped. Defaults to `600`.

    Returns:
        The parsed dict (see `parse_benchmark_model`), plus `tool` (its
        kind), `tool_path` and `command` (the flags, the model path as
        `model.tflite`).

    Raises:
        FileNotFoundError: If no tool is found.
        BenchmarkToolError: If the tool fails, times out or prints no timings.
    """
    path, kind = find_tool(tool)
    if kind == "litert-benchmark" and not use_xnnpack:
        raise ValueError(
            "Invalid value for argument `use_xnnpack`. The `litert-benchmark` "
            f"tool ({path}) always runs LiteRT's CPU accelerator (XNNPACK); "
            "use_xnnpack=False needs the C++ `benchmark_model` (pass its "
            "path as `tool=`) or backend='interpreter'. Received: "
            "use_xnnpack=False"
        )
    with tempfile.TemporaryDirectory() as workdir:
        graph = os.path.join(workdir, "model.tflite")
        json_path = os.path.join(workdir, "result.json")
        with open(graph, "wb") as f:
            f.write(bytes(content))
        command = tool_command(
            path, kind, graph, num_threads, warmup, runs, use_xnnpack, json_path
        )
        command += [str(a) for a in extra_args]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BenchmarkToolError(
                f"{kind} did not finish in {timeout} s: {' '.join(command)}"
            ) from None
        output = done.stdout + "\n" + done.stderr
        if done.returncode != 0:
            tail = " | ".join(log_lines(output)[-8:])
            raise BenchmarkToolError(
                f"{kind} exited with {done.returncode}: {tail}"
            )
        if kind == "litert-benchmark":
            if os.path.isfile(json_path):
                with open(json_path) as f:
                    parsed = parse_litert_benchmark(f.read())
            else:
                parsed = parse_litert_benchmark(done.stdout)
        else:
            parsed = parse_benchmark_model(output)
    parsed["tool"] = kind
    parsed["tool_path"] = path
    parsed["command"] = [os.path.basename(path)] + [
        a.replace(graph, "model.tflite").replace(json_path, "result.json")
        for a in command[1:]
    ]
    return parsed
