"""A float32 TFLite interpreter for timing, without `tf_compact.lite`.

Latency measurement in `tf_compact.pruning` needs to convert a Keras model
to a float32 `.tflite` flatbuffer, create an interpreter on the runtime
users deploy with and time `invoke()`. This module does only that: LiteRT
(`ai_edge_litert`, whose default XNNPACK delegate runs float models) when
it is installed, else TensorFlow's `tf.lite.Interpreter`.

Example:

```python
content = to_tflite(model)
interpreter, runtime = make_interpreter(content, num_threads=1)
ms = time_invoke(interpreter, runs=50)
```
"""

import contextlib
import importlib
import io
import platform
import time

import numpy as np

#: Runtimes in the order they are tried.
RUNTIMES = ("ai_edge_litert", "tensorflow")


def to_tflite(model):
    """Converts a Keras model to a float32 TFLite flatbuffer.

    Args:
        model: A built Keras 3 model (its batch size is kept as given).

    Returns:
        The flatbuffer as `bytes`.

    Raises:
        Exception: What the TFLite converter raises.
    """
    import tensorflow as tf

    with contextlib.redirect_stdout(io.StringIO()):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        return converter.convert()


def runtime_name():
    """The runtime `make_interpreter` uses here, e.g. `"ai_edge_litert"`."""
    for name in RUNTIMES:
        try:
            _module(name)
        except ImportError:
            continue
        return name
    return "tensorflow"


def runtime_version(name):
    """The version of runtime `name`, for cache keys."""
    package = "ai_edge_litert" if name == "ai_edge_litert" else "tensorflow"
    try:
        from importlib import metadata

        return metadata.version(package.replace("_", "-"))
    except Exception:  # noqa: BLE001 - unknown version is still a key
        return "unknown"


def make_interpreter(content, num_threads=1):
    """An allocated interpreter of `content` and the runtime's name.

    Args:
        content: A `.tflite` flatbuffer.
        num_threads: Interpreter threads. Defaults to `1`.

    Returns:
        `(interpreter, runtime name)`.
    """
    errors = []
    for name in RUNTIMES:
        try:
            module = _module(name)
        except ImportError as e:
            errors.append(f"{name}: {e}")
            continue
        interpreter = module.Interpreter(
            model_content=bytes(content), num_threads=int(num_threads)
        )
        interpreter.allocate_tensors()
        return interpreter, name
    raise ImportError(
        "No TFLite runtime could be imported: " + "; ".join(errors)
    )


def time_invoke(interpreter, runs=50, warmup=5, repeats=3):
    """Median milliseconds of one `invoke()`, best of `repeats` medians.

    The inputs are filled with zeros once; every call runs the same graph,
    so the values do not change the time of a float32 model.

    Args:
        interpreter: An allocated interpreter.
        runs: Timed invokes per repeat. Defaults to `50`.
        warmup: Untimed invokes first. Defaults to `5`.
        repeats: Repeats; the smallest median is kept, which is the one
            least disturbed by other processes. Defaults to `3`.

    Returns:
        Milliseconds, a float.
    """
    for detail in interpreter.get_input_details():
        shape = [int(d) for d in detail["shape"]]
        interpreter.set_tensor(
            detail["index"], np.zeros(shape, dtype=detail["dtype"])
        )
    for _ in range(warmup):
        interpreter.invoke()
    best = None
    for _ in range(max(1, repeats)):
        times = []
        for _ in range(max(1, runs)):
            start = time.perf_counter()
            interpreter.invoke()
            times.append(time.perf_counter() - start)
        median = float(np.median(times)) * 1e3
        best = median if best is None else min(best, median)
    return best


def cpu_name():
    """The host CPU's model name (Linux CPU info, else `platform`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _module(name):
    if name == "tensorflow":
        import tensorflow as tf

        return tf.lite
    return importlib.import_module("ai_edge_litert.interpreter")
