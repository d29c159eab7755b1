"""Choosing and creating a TFLite interpreter.

Three runtimes can run a `.tflite` model from Python. They are tried in this
order by `runtime="auto"`:

- `"ai_edge_litert"`: LiteRT, the maintained runtime (XNNPACK delegates float
  and int8 models).
- `"tflite_runtime"`: the older stand-alone package (Python <= 3.11 and
  numpy < 2 only; under numpy 2 it is skipped, and the reason reported). It
  does not verify the flatbuffer, so it is only handed a model that one of
  the other two has read.

Every model is checked (`validate_flatbuffer`) before any runtime sees it,
and a model that a runtime refuses as malformed is not handed to the next
one: a `ValueError` says what is wrong with it.
- `"tensorflow"`: `tf.lite.Interpreter`, always present with TensorFlow.

`delegate="edgetpu"` loads Coral's Edge TPU runtime (`libedgetpu.so.1`)
through the runtime's external-delegate API (`load_delegate`); a model
compiled by `edgetpu_compiler` then runs its `edgetpu-custom-op` on the
Edge TPU.
"""

import dataclasses
import importlib
import importlib.util
import os
import platform
import sys

import numpy as np

from tf_compact.lite.errors import RuntimeUnavailableError
from tf_compact.lite.flatbuffer import check_model

RUNTIMES = ("ai_edge_litert", "tflite_runtime", "tensorflow")
DELEGATES = ("edgetpu",)
# Coral's Edge TPU runtime library, by platform.system().
EDGETPU_LIBRARIES = {
    "Linux": "libedgetpu.so.1",
    "Darwin": "libedgetpu.1.dylib",
    "Windows": "edgetpu.dll",
}
EDGETPU_INSTALL = (
    "install Coral's Edge TPU runtime (Debian/Ubuntu: `sudo apt-get install "
    "libedgetpu1-std` from Coral's package repository, see "
    "https://coral.ai/docs/accelerator/get-started/) and plug in a Coral "
    "device"
)
_MODULES = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
}
# Runtimes that verify the flatbuffer before building an interpreter; the
# others are handed a model only after one of these accepted it.
_VERIFYING = ("ai_edge_litert", "tensorflow")
# Words a runtime uses when it refuses the file itself, not the platform.
_REFUSALS = ("not a valid flatbuffer", "model identifier", "verification")


@dataclasses.dataclass
class RuntimeInfo:
    """Which runtime and delegate an interpreter uses.

    Args:
        runtime: Name of the runtime that was created, one of `RUNTIMES`.
        delegate: `"edgetpu"` when the Edge TPU delegate was applied,
            `"xnnpack"` when the XNNPACK delegate took over part of the
            graph, else `"none"`.
        attempts: Dict mapping runtimes tried before it (and a delegate that
            failed to prepare) to why they failed. Defaults to `{}`.

    Example:

    ```python
    interpreter, info = tfc.lite.make_interpreter(tflite)
    print(info.runtime, info.delegate)
    ```
    """

    runtime: str
    delegate: str
    attempts: dict = dataclasses.field(default_factory=dict)

    def get_config(self):
        """Returns the fields as a JSON-compatible dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        """Creates a `RuntimeInfo` from `get_config()` output."""
        return cls(**config)


def _validate_runtime(runtime):
    if runtime != "auto" and runtime not in RUNTIMES:
        raise ValueError(
            "Invalid value for argument `runtime`. Expected one of "
            f"{('auto',) + RUNTIMES}. Received: runtime={runtime!r}"
        )


def _validate_delegate(delegate):
    if delegate is not None and delegate not in DELEGATES:
        raise ValueError(
            "Invalid value for argument `delegate`. Expected `None` or one "
            f"of {DELEGATES}. Received: delegate={delegate!r}"
        )


def edgetpu_library():
    """The file name of Coral's Edge TPU runtime library on this system.

    Example:

    ```python
    tfc.lite.runtime.edgetpu_library()  # "libedgetpu.so.1" on Linux
    ```
    """
    return EDGETPU_LIBRARIES.get(platform.system(), "libedgetpu.so.1")


def _load_delegate(runtime, library, options):
    """Loads an external delegate with `runtime`'s `load_delegate`."""
    module = _interpreter_module(runtime)
    return module.load_delegate(library, options or {})


def load_edgetpu_delegate(runtime="ai_edge_litert", library=None, options=None):
    """Loads the Edge TPU delegate (`libedgetpu`) through a LiteRT runtime.

    Args:
        runtime: The runtime whose `load_delegate` to use (the delegate
            must be handed to that runtime's interpreter). Defaults to
            `"ai_edge_litert"`.
        library: The library to load. Defaults to `edgetpu_library()`.
        options: Delegate options, e.g. `{"device": "usb:0"}`. Defaults to
            `None`.

    Returns:
        The runtime's delegate object.

    Raises:
        RuntimeUnavailableError: If the library cannot be loaded (not
            installed, or no Edge TPU attached); the message names the
            library and how to install it.

    Example:

    ```python
    delegate = tfc.lite.runtime.load_edgetpu_delegate()
    ```
    """
    library = library or edgetpu_library()
    try:
        return _load_delegate(runtime, library, options)
    except (OSError, ValueError, RuntimeError, AttributeError) as e:
        raise RuntimeUnavailableError(
            f"The Edge TPU delegate {library!r} could not be loaded through "
            f"{runtime} ({type(e).__name__}: {_short(e)}); " + EDGETPU_INSTALL,
            {runtime: f"{library} not loaded ({_short(e)})"},
        ) from None


def _validate_num_threads(num_threads):
    if isinstance(num_threads, bool) or not isinstance(num_threads, int):
        raise TypeError(
            "Invalid type for argument `num_threads`. Expected an int. "
            f"Received: num_threads={num_threads!r}"
        )
    if num_threads < 1:
        raise ValueError(
            "Invalid value for argument `num_threads`. Expected an int >= 1. "
            f"Received: num_threads={num_threads}"
        )


def validate_flatbuffer(model_content):
    """Raises if `model_content` is not a well-formed TFLite flatbuffer.

    Checks the `TFL3` file identifier, then reads the whole model with
    bounds checks (see `tf_compact.lite.flatbuffer.check_model`), so that a
    truncated or corrupt file is refused before any runtime sees it.

    Args:
        model_content: Bytes to check.

    Raises:
        TypeError: If `model_content` is not bytes-like.
        ValueError: If it lacks the `TFL3` file identifier or cannot be
            read as a TFLite model; the message says what is broken.

    Example:

    ```python
    tfc.lite.runtime.validate_flatbuffer(open("model.tflite", "rb").read())
    ```
    """
    if not isinstance(model_content, (bytes, bytearray, memoryview)):
        raise TypeError(
            "Invalid type for argument `model_content`. Expected bytes of a "
            f"TFLite model. Received: type={type(model_content).__name__}"
        )
    check_model(model_content)


def load_model_content(model):
    """Returns TFLite bytes from bytes or from a path to a `.tflite` file.

    Args:
        model: Bytes-like flatbuffer, or a `str`/`os.PathLike` file path.

    Returns:
        The flatbuffer as `bytes` (a `bytes` subclass is returned as is).

    Raises:
        TypeError: If `model` is neither bytes nor a path.
        ValueError: If the content is not a TFLite flatbuffer.
        FileNotFoundError: If the path does not exist.

    Example:

    ```python
    content = tfc.lite.load_model_content("model.tflite")
    ```
    """
    path = None
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        with open(model, "rb") as f:
            model = f.read()
    elif isinstance(model, (bytearray, memoryview)):
        model = bytes(model)
    try:
        validate_flatbuffer(model)
    except ValueError as e:
        if path is None:
            raise
        raise ValueError(
            f"File {path!r} is not a usable TFLite model. {e}"
        ) from None
    return model


def _importable(module_name):
    """Whether `module_name` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return sys.modules.get(module_name.split(".")[0]) is not None


def _skip_reason(runtime):
    """Why `runtime` cannot work in this process, or `None`.

    Every `tflite_runtime` wheel is built against numpy 1.x: under numpy 2
    it imports with a warning, parses the model without verifying it, then
    fails creating the interpreter (`_ARRAY_API not found`).
    """
    if runtime != "tflite_runtime":
        return None
    if not _importable(_MODULES[runtime]):
        raise ModuleNotFoundError(f"No module named {_MODULES[runtime]!r}")
    if int(np.__version__.split(".")[0]) >= 2:
        return (
            "skipped (built against numpy 1.x, it fails with `_ARRAY_API "
            f"not found` under numpy {np.__version__})"
        )
    return None


def _refuses(error):
    """Whether a runtime's error says the file itself is broken."""
    text = str(error).lower()
    return isinstance(error, ValueError) and any(
        word in text for word in _REFUSALS
    )


def _refused(runtime, model_content, error):
    return ValueError(
        "Invalid value for argument `model_content`. Expected a well-formed "
        f"TFLite flatbuffer. Received: {len(model_content)} bytes that "
        f"{runtime} refused ({_short(error)}); no other runtime was tried "
        "on them."
    )


def _verify_first(model_content, verified):
    """Has a verifying runtime read the model before an unverifying one."""
    if verified:
        return
    for name in _VERIFYING:
        try:
            module = _interpreter_module(name)
            module.Interpreter(model_content=bytes(model_content))
        except ImportError:
            continue
        except Exception as e:  # only a refusal of the file matters here
            if _refuses(e):
                raise _refused(name, model_content, e) from None
        verified.append(name)
        return


def _interpreter_module(runtime):
    """Returns the module holding `Interpreter` and `OpResolverType`."""
    if runtime == "tensorflow":
        import tensorflow as tf

        class _TfLite:
            Interpreter = tf.lite.Interpreter
            OpResolverType = tf.lite.experimental.OpResolverType
            load_delegate = staticmethod(tf.lite.experimental.load_delegate)

        return _TfLite
    return importlib.import_module(_MODULES[runtime])


def _create(runtime, model_content, num_threads, use_xnnpack, delegates=None):
    module = _interpreter_module(runtime)
    resolver = module.OpResolverType
    kind = (
        resolver.AUTO
        if use_xnnpack
        else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interpreter = module.Interpreter(
        model_content=bytes(model_content),
        num_threads=num_threads,
        experimental_op_resolver_type=kind,
        experimental_delegates=delegates or None,
    )
    interpreter.allocate_tensors()
    _probe(interpreter)
    return interpreter


def _probe(interpreter):
    """Invokes once on zeros: some delegates fail only at the first run."""
    import numpy as np

    for detail in interpreter.get_input_details():
        shape = [int(d) for d in detail["shape"]]
        zeros = np.zeros(shape, dtype=detail["dtype"])
        interpreter.set_tensor(detail["index"], zeros)
    interpreter.invoke()


def _create_with_fallback(
    name, model_content, num_threads, use_xnnpack, log, delegates=None
):
    """Creates `name`'s interpreter; without XNNPACK if XNNPACK fails."""
    try:
        return _create(name, model_content, num_threads, use_xnnpack, delegates)
    except RuntimeError as e:
        if not use_xnnpack or "XNNPACK" not in str(e).upper():
            raise
        log[f"{name} with xnnpack"] = f"failed ({_short(e)}); ran without it"
        return _create(name, model_content, num_threads, False, delegates)


def _short(error, limit=200):
    text = str(error)
    return text if len(text) <= limit else "..." + text[-limit:]


def delegate_of(interpreter):
    """Returns `"xnnpack"` if a delegate node runs in `interpreter`.

    Args:
        interpreter: An allocated TFLite interpreter from any runtime.

    Returns:
        `"xnnpack"` when the execution plan holds a `DELEGATE` node (the
        default delegate of all three runtimes is XNNPACK), else `"none"`.

    Example:

    ```python
    interpreter, _ = tfc.lite.make_interpreter(tflite)
    print(tfc.lite.delegate_of(interpreter))
    ```
    """
    ops = interpreter._get_ops_details()
    if any(op["op_name"] == "DELEGATE" for op in ops):
        return "xnnpack"
    return "none"


def make_interpreter(
    model_content,
    runtime="auto",
    num_threads=1,
    use_xnnpack=True,
    delegate=None,
    delegate_options=None,
):
    """Creates an allocated TFLite interpreter and says which runtime ran.

    Args:
        model_content: The `.tflite` flatbuffer, as bytes.
        runtime: `"auto"` or one of `"ai_edge_litert"`, `"tflite_runtime"`,
            `"tensorflow"`. `"auto"` tries them in that order and takes the
            first that creates an interpreter. Defaults to `"auto"`.
        num_threads: Interpreter threads, always passed to the runtime.
            Defaults to `1`.
        use_xnnpack: Whether to let the runtime apply its default XNNPACK
            delegate. If XNNPACK fails to prepare the model (checked with one
            invoke on zeros), the interpreter is created without it and
            `RuntimeInfo.attempts` says why. Defaults to `True`.
        delegate: `None`, or `"edgetpu"` to load Coral's Edge TPU runtime
            (`libedgetpu`) through the runtime's `load_delegate` and hand
            it to the interpreter (for models compiled by
            `edgetpu_compiler`). Defaults to `None`.
        delegate_options: Options for the delegate, e.g.
            `{"device": "usb:0"}`. Defaults to `None`.

    Returns:
        A tuple `(interpreter, RuntimeInfo)`.

    Raises:
        ValueError: If `runtime` or `num_threads` is not valid, or if
            `model_content` is not a TFLite flatbuffer.
        RuntimeUnavailableError: If the runtime asked for (or every runtime,
            for `"auto"`) cannot be imported or cannot create an
            interpreter, or the delegate asked for cannot be loaded; the
            message says why for each one tried (for `"edgetpu"`: the
            library and how to install it).

    Example:

    ```python
    interpreter, info = tfc.lite.make_interpreter(tflite, num_threads=2)
    print(info.runtime, info.delegate)
    ```
    """
    _validate_runtime(runtime)
    _validate_num_threads(num_threads)
    _validate_delegate(delegate)
    validate_flatbuffer(model_content)
    order = RUNTIMES if runtime == "auto" else (runtime,)
    attempts, verified, missing = {}, [], []
    for name in order:
        try:
            reason = _skip_reason(name)
            if reason is not None:
                attempts[name] = reason
                continue
            if name not in _VERIFYING:
                _verify_first(model_content, verified)
            delegates = None
            if delegate is not None:
                delegates = [
                    load_edgetpu_delegate(name, options=delegate_options)
                ]
            interpreter = _create_with_fallback(
                name,
                model_content,
                num_threads,
                use_xnnpack,
                attempts,
                delegates,
            )
        except ImportError as e:
            attempts[name] = f"not importable ({type(e).__name__}: {_short(e)})"
            continue
        except RuntimeUnavailableError as e:
            attempts.update(e.attempts)
            missing.append(str(e))
            continue
        except (RuntimeError, ValueError, AttributeError, TypeError) as e:
            if _refuses(e):
                raise _refused(name, model_content, e) from None
            attempts[name] = (
                f"failed to create ({type(e).__name__}: {_short(e)})"
            )
            continue
        used = delegate or delegate_of(interpreter)
        return interpreter, RuntimeInfo(name, used, attempts)
    details = "; ".join(f"{k}: {v}" for k, v in attempts.items())
    if missing:
        raise RuntimeUnavailableError(missing[0], attempts)
    raise RuntimeUnavailableError(
        f"No TFLite runtime could run the model (runtime={runtime!r}). "
        f"Tried {details}",
        attempts,
    )


def cpu_name():
    """The host CPU's model name, for latency reports.

    Returns:
        The `model name` line of the Linux CPU info when there is one, else
        `platform.processor()`, else `"unknown CPU"`.

    Example:
    ```python
    print(f"1-thread latency on {tfc.lite.runtime.cpu_name()}")
    ```
    """
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
