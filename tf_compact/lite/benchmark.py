"""Latency, size and accuracy of a TFLite model on a real interpreter."""

import time

import keras
import numpy as np

from tf_compact.lite.benchmark_checks import check_compiled
from tf_compact.lite.benchmark_checks import from_logits_of
from tf_compact.lite.benchmark_checks import validate_backend
from tf_compact.lite.benchmark_checks import validate_count
from tf_compact.lite.benchmark_result import BenchmarkResult
from tf_compact.lite.benchmark_runner import run_tool
from tf_compact.lite.converter import convert
from tf_compact.lite.flatbuffer import load_model_content
from tf_compact.lite.inference import accuracy_of
from tf_compact.lite.inference import iterate_labeled
from tf_compact.lite.interpreter_io import input_arrays
from tf_compact.lite.interpreter_io import model_io
from tf_compact.lite.interpreter_io import quantize_input
from tf_compact.lite.runtime import has_dynamic_dims
from tf_compact.lite.runtime import make_interpreter
from tf_compact.lite.scoring import scored_output


def _tool_result(parsed, name, content, num_threads, warmup, use_xnnpack):
    if parsed["tool"] == "benchmark_model":
        delegate = "xnnpack" if use_xnnpack else "none"
    else:
        delegate = "litert-cpu"
    return BenchmarkResult(
        name=name,
        runtime=parsed["tool"],
        delegate=delegate,
        num_threads=num_threads,
        median_ms=parsed["median_ms"],
        p90_ms=None,
        mean_ms=parsed["mean_ms"],
        size_bytes=len(content),
        runs=parsed["runs"],
        warmup=warmup,
        backend="litert-benchmark",
        init_ms=parsed["init_ms"],
        memory_mb=parsed["memory_mb"],
        op_profile=parsed["op_profile"],
        command=parsed["command"],
    )


def _as_content(model):
    if isinstance(model, keras.Model):
        return convert(model, mode="float32"), model.name
    content = load_model_content(model)
    name = getattr(content, "mode", None)
    if isinstance(model, str):
        name = model
    return content, name or "tflite"


def _random_input(detail, seed=0):
    """Random values of an input's shape: uniform in [0, 1) for a float
    input, zeros for an integer one (token ids or class indices are only
    valid up to sizes the file does not state; 0 always is)."""
    rng = np.random.default_rng(seed)
    shape = [int(d) for d in detail["shape"]]
    dtype = np.dtype(detail["dtype"])
    if dtype.kind in "iub":
        return np.zeros(shape, dtype)
    return rng.uniform(size=shape).astype(dtype)


def _first_sample(interpreter, dataset):
    """One sample per input from `dataset`'s first batch, or `None`."""
    first = None if dataset is None else next(iterate_labeled(dataset), None)
    if first is None:
        return None
    inputs, arrays = input_arrays(interpreter, first[0], "dataset")
    return [
        (detail, quantize_input(a[:1], detail))
        for (_, detail), a in zip(inputs, arrays)
    ]


def _prepare_timing(interpreter, dataset):
    """Sets the inputs every timed invoke reads: one sample of `dataset`
    (repeated to the input's batch) when given, else random values.

    Inputs with unknown dimensions besides the batch are first resized to
    that sample; without a dataset they are refused (at their size-1
    placeholder a `"valid"` convolution crashes the interpreter).
    """
    sample = _first_sample(interpreter, dataset)
    inputs, _ = model_io(interpreter)
    dynamic = [name for name, d in inputs if has_dynamic_dims(d)]
    if dynamic and sample is None:
        raise ValueError(
            "Invalid value for argument `dataset`. The model's inputs "
            f"{dynamic} have unknown dimensions besides the batch (e.g. "
            "`keras.Input((None, None, 3))`), so latency can only be "
            "timed at a real input size: pass a `dataset` of `(x, y)` "
            "batches (one sample of its first batch's shape is timed), or "
            "convert a model with a fixed input shape. Received: "
            f"{'dataset=None' if dataset is None else 'an empty dataset'}"
        )
    if dynamic:
        for detail, a in sample:
            shape = [int(detail["shape"][0]), *a.shape[1:]]
            interpreter.resize_tensor_input(detail["index"], shape)
        interpreter.allocate_tensors()
    if sample is None:
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], _random_input(detail))
        return
    by_index = {d["index"]: d for d in interpreter.get_input_details()}
    for detail, a in sample:
        batch = max(1, int(by_index[detail["index"]]["shape"][0]))
        interpreter.set_tensor(detail["index"], np.repeat(a, batch, axis=0))


def _time_invokes(interpreter, warmup, runs):
    for _ in range(warmup):
        interpreter.invoke()
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times[i] = time.perf_counter() - start
    return times * 1e3


def _checked_scoring(interpreter, dataset, output):
    """The output the accuracy scores, checked before timing; `None`
    without a dataset."""
    if dataset is None:
        return None
    return scored_output(interpreter, dataset, output)


def benchmark(
    model,
    runtime="auto",
    num_threads=1,
    warmup=10,
    runs=100,
    dataset=None,
    use_xnnpack=True,
    name=None,
    output=None,
    delegate=None,
    backend="interpreter",
    tool=None,
    tool_args=(),
    multi_label=None,
    from_logits=None,
):
    """Measures invoke latency, size and (optionally) accuracy of a model.

    Latency is timed per `invoke()` at the model's own input shape (batch 1
    for models converted from Keras), on the first sample of `dataset` when
    one is given, else on random inputs (zeros for integer inputs such as
    token ids, which must stay inside an embedding's range). A model whose
    inputs have unknown dimensions besides the batch (`keras.Input((None,
    None, 3))`) is timed on one sample of the shape of `dataset`'s first
    batch, and needs a `dataset`.

    Args:
        model: TFLite bytes (e.g. a `ConversionResult`), a path to a
            `.tflite` file, or a Keras model (converted with
            `mode="float32"` first).
        runtime: `"auto"`, `"ai_edge_litert"`, `"tflite_runtime"` or
            `"tensorflow"`; the result says which ran. Only
            `backend="interpreter"` takes another than `"auto"`. Defaults
            to `"auto"`.
        num_threads: Interpreter threads, always passed to the runtime.
            Defaults to `1`.
        warmup: Untimed invokes first. Defaults to `10`.
        runs: Timed invokes. Defaults to `100`.
        dataset: Optional `tf.data.Dataset` of `(x, y)` batches or tuple
            `(x, y)` of arrays, to measure accuracy through the
            interpreter (`accuracy_of`). Every dimension of `x` but the
            batch must match the model input. For several inputs, `x` is a
            dict from input name to array or a list of arrays. Labels are
            class indices, one-hot or multi-hot rows for the scored output
            (binary in [0, 1] for a one-unit output), per example or per
            position, or a dict from output name to labels, read by the
            scored output's name; regression targets are refused (time
            without `dataset`). Defaults to `None`.
        use_xnnpack: Whether to let the runtime apply XNNPACK (the
            `litert-benchmark` tool always does, and refuses `False`).
            Defaults to `True`.
        name: Label for tables. Defaults to the Keras model name, the file
            path or the conversion mode.
        output: Which output the accuracy scores, for a model with several:
            an index in Keras order or an output name (`"output_1"`, or
            the key of a dict output; Keras sorts dict outputs by key).
            `None` scores the output that dict labels name, else the first
            output in Keras order; `scored_output` in the result says which
            ran. Defaults to `None`.
        delegate: `None`, or `"edgetpu"` to run a model compiled by
            `edgetpu_compiler` on a Coral Edge TPU, through `libedgetpu`
            loaded with the runtime's `load_delegate`. Defaults to `None`.
        backend: `"interpreter"` to time `invoke()` here, or
            `"litert-benchmark"` to run a LiteRT benchmark tool on the file
            and read its report (init time; with the C++ `benchmark_model`
            also the memory footprint and a per-op profile, taken with
            `--enable_op_profiling=true`). Defaults to `"interpreter"`.
        tool: For `backend="litert-benchmark"`: the tool's path or command
            name; `None` takes `benchmark_model` from the PATH, else the
            `litert-benchmark` command that ai-edge-litert installs.
            Defaults to `None`.
        tool_args: More flags for the tool, e.g.
            `["--use_gpu=true"]`. Defaults to `()`.
        multi_label: How the accuracy scores a wide output: `True` unit
            by unit (a sigmoid head), `False` by its argmax, `None` by the
            labels (see `accuracy_of`). Defaults to `None`.
        from_logits: Whether binary scores are logits (threshold 0) or
            probabilities (0.5), see `accuracy_of`; `None` reads a Keras
            `model`'s head (a sigmoid or softmax means probabilities), or
            tells a file's by the outputs' range. Defaults to `None`.

    Returns:
        A `BenchmarkResult`.

    Raises:
        ValueError: If an argument is invalid, the model file is malformed,
            `output` names no output, or the dataset's inputs do not match
            the model (any dimension but the batch) or hold no sample, or
            its labels do not fit the scored output (checked before timing
            where the labels' shape is known; the message names the output,
            its width, the labels' shape and the outputs to pick from with
            `output=`), or the model has inputs of unknown size and no
            `dataset` is given.
        RuntimeUnavailableError: If the runtime asked for cannot run, or
            `delegate="edgetpu"` and `libedgetpu` cannot be loaded (the
            message says how to install it).
        FileNotFoundError: If `backend="litert-benchmark"` and no tool is
            found (the message says where to get one).
        BenchmarkToolError: If the tool fails or prints no timings.

    Example:

    ```python
    result = tfc.lite.benchmark(tflite, num_threads=1, runs=200,
                                dataset=(x_test, y_test))
    heads = tfc.lite.benchmark(two_head_tflite, dataset=(x_test, y_cls),
                               output="output_1")
    tool = tfc.lite.benchmark(tflite, backend="litert-benchmark",
                              num_threads=4)
    print(result.to_dict(), tool.init_ms, tool.memory_mb)
    ```
    """
    validate_count("warmup", warmup, 0)
    validate_count("runs", runs, 1)
    validate_backend(backend, dataset, delegate, runtime)
    content, default_name = _as_content(model)
    if backend == "litert-benchmark":
        parsed = run_tool(
            content,
            tool=tool,
            num_threads=num_threads,
            warmup=warmup,
            runs=runs,
            use_xnnpack=use_xnnpack,
            extra_args=tool_args,
        )
        return _tool_result(
            parsed,
            name or default_name,
            content,
            num_threads,
            warmup,
            use_xnnpack,
        )
    check_compiled(delegate, content)
    interpreter, info = make_interpreter(
        content,
        runtime=runtime,
        num_threads=num_threads,
        use_xnnpack=use_xnnpack,
        delegate=delegate,
    )
    scored = _checked_scoring(interpreter, dataset, output)
    _prepare_timing(interpreter, dataset)
    times = _time_invokes(interpreter, warmup, runs)
    accuracy = None
    if dataset is not None:
        accuracy = accuracy_of(
            interpreter,
            dataset,
            output=scored,
            multi_label=multi_label,
            from_logits=from_logits_of(model, from_logits),
        )
    return BenchmarkResult(
        name=name or default_name,
        runtime=info.runtime,
        delegate=info.delegate,
        num_threads=num_threads,
        median_ms=float(np.median(times)),
        p90_ms=float(np.percentile(times, 90)),
        mean_ms=float(np.mean(times)),
        size_bytes=len(content),
        runs=runs,
        warmup=warmup,
        accuracy=accuracy,
        scored_output=scored,
        attempts=info.attempts,
    )
