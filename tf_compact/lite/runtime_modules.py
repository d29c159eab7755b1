"""Which LiteRT runtimes this process can use.

Each runtime is imported by name only when asked for; `tflite_runtime` is
skipped under numpy 2 (with the reason), and is handed a model only after a
runtime that verifies flatbuffers has read it. A runtime that refuses the
file itself (not the platform) stops the search with a `ValueError`.
"""

import importlib
import importlib.util
import sys

import numpy as np

RUNTIMES = ("ai_edge_litert", "tflite_runtime", "tensorflow")
MODULES = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
}
# Runtimes that verify the flatbuffer before building an interpreter; the
# others are handed a model only after one of these accepted it.
VERIFYING = ("ai_edge_litert", "tensorflow")
# Words a runtime uses when it refuses the file itself, not the platform.
REFUSALS = ("not a valid flatbuffer", "model identifier", "verification")


def brief(error, limit=200):
    """An error's message, cut to its last `limit` characters."""
    text = str(error)
    return text if len(text) <= limit else "..." + text[-limit:]


def importable(module_name):
    """Whether `module_name` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return sys.modules.get(module_name.split(".")[0]) is not None


def skip_reason(runtime):
    """Why `runtime` cannot work in this process, or `None`.

    Every `tflite_runtime` wheel is built against numpy 1.x: under numpy 2
    it imports with a warning, parses the model without verifying it, then
    fails creating the interpreter (`_ARRAY_API not found`).
    """
    if runtime != "tflite_runtime":
        return None
    if not importable(MODULES[runtime]):
        raise ModuleNotFoundError(f"No module named {MODULES[runtime]!r}")
    if int(np.__version__.split(".")[0]) >= 2:
        return (
            "skipped (built against numpy 1.x, it fails with `_ARRAY_API "
            f"not found` under numpy {np.__version__})"
        )
    return None


def refuses(error):
    """Whether a runtime's error says the file itself is broken."""
    text = str(error).lower()
    return isinstance(error, ValueError) and any(
        word in text for word in REFUSALS
    )


def refused(runtime, model_content, error):
    """The `ValueError` for a model that `runtime` refused as malformed."""
    return ValueError(
        "Invalid value for argument `model_content`. Expected a well-formed "
        f"TFLite flatbuffer. Received: {len(model_content)} bytes that "
        f"{runtime} refused ({brief(error)}); no other runtime was tried "
        "on them."
    )


def verify_first(model_content, verified):
    """Has a verifying runtime read the model before an unverifying one."""
    if verified:
        return
    for name in VERIFYING:
        try:
            module = interpreter_module(name)
            module.Interpreter(model_content=bytes(model_content))
        except ImportError:
            continue
        except Exception as e:  # only a refusal of the file matters here
            if refuses(e):
                raise refused(name, model_content, e) from None
        verified.append(name)
        return


def interpreter_module(runtime):
    """Returns the module holding `Interpreter` and `OpResolverType`."""
    if runtime == "tensorflow":
        import tensorflow as tf

        class _TfLite:
            Interpreter = tf.lite.Interpreter
            OpResolverType = tf.lite.experimental.OpResolverType
            load_delegate = staticmethod(tf.lite.experimental.load_delegate)

        return _TfLite
    return importlib.import_module(MODULES[runtime])
