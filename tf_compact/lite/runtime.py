"""Choosing and creating a TFLite interpreter.

Three runtimes can run a `.tflite` model from Python. They are tried in this
order by `runtime="auto"` (see `tf_compact.lite.runtime_modules`):

- `"ai_edge_litert"`: LiteRT, the maintained runtime (XNNPACK delegates float
  and int8 models).
- `"tflite_runtime"`: the older stand-alone package (Python <= 3.11 and
  numpy < 2 only; under numpy 2 it is skipped, and the reason reported). It
  does not verify the flatbuffer, so it is only handed a model that one of
  the other two has read.
- `"tensorflow"`: `tf.lite.Interpreter`, always present with TensorFlow.

Every model is checked (`validate_flatbuffer`) before any runtime sees it,
and a model that a runtime refuses as malformed is not handed to the next
one: a `ValueError` says what is wrong with it.

`delegate="edgetpu"` loads Coral's Edge TPU runtime (`libedgetpu.so.1`)
through the runtime's external-delegate API (see
`tf_compact.lite.edgetpu_delegate`); a model compiled by `edgetpu_compiler`
then runs its `edgetpu-custom-op` on the Edge TPU.
"""

import dataclasses
import platform

from tf_compact.lite.edgetpu_delegate import load_edgetpu_delegate
from tf_compact.lite.errors import RuntimeUnavailableError
from tf_compact.lite.flatbuffer import validate_flatbuffer
from tf_compact.lite.input_order import remember
from tf_compact.lite.runtime_modules import RUNTIMES
from tf_compact.lite.runtime_modules import VERIFYING
from tf_compact.lite.runtime_modules import brief
from tf_compact.lite.runtime_modules import interpreter_module
from tf_compact.lite.runtime_modules import refused
from tf_compact.lite.runtime_modules import refuses
from tf_compact.lite.runtime_modules import skip_reason
from tf_compact.lite.runtime_modules import verify_first

DELEGATES = ("edgetpu",)


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


def _create(runtime, model_content, num_threads, use_xnnpack, delegates=None):
    module = interpreter_module(runtime)
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


def has_dynamic_dims(detail):
    """Whether an input or output detail has an unknown non-batch dim."""
    signature = detail.get("shape_signature")
    if signature is None or not len(signature):
        return False
    return any(int(d) < 0 for d in list(signature)[1:])


def _probe(interpreter):
    """Invokes once on zeros: some delegates fail only at the first run.

    Skipped when an input has unknown non-batch dimensions: they are
    allocated at size 1, on which a `"valid"` convolution yields an empty
    tensor that crashes the interpreter (a segfault, not an exception).
    """
    import numpy as np

    details = interpreter.get_input_details()
    if any(has_dynamic_dims(d) for d in details):
        return
    for detail in details:
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
        log[f"{name} with xnnpack"] = f"failed ({brief(e)}); ran without it"
        return _create(name, model_content, num_threads, False, delegates)


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
            invoke on zeros, for a model whose inputs have no unknown
            dimension but the batch: the interpreter is never invoked on
            the size-1 placeholder shape of a dynamic input), the
            interpreter is created without it and `RuntimeInfo.attempts`
            says why. Defaults to `True`.
        delegate: `None`, or `"edgetpu"` to load Coral's Edge TPU runtime
            (`libedgetpu`) through the runtime's `load_delegate` and hand
            it to the interpreter (for models compiled by
            `edgetpu_compiler`). Defaults to `None`.
        delegate_options: Options for the delegate, e.g.
            `{"device": "usb:0"}`. Defaults to `None`.

    Returns:
        A tuple `(interpreter, RuntimeInfo)`. The Keras input order that
        `tfc.lite.convert` records in a file with several inputs is kept
        for the interpreter: `tfc.lite.run_interpreter` and the functions
        built on it take a list of inputs in that order.

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
            reason = skip_reason(name)
            if reason is not None:
                attempts[name] = reason
                continue
            if name not in VERIFYING:
                verify_first(model_content, verified)
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
            attempts[name] = f"not importable ({type(e).__name__}: {brief(e)})"
            continue
        except RuntimeUnavailableError as e:
            attempts.update(e.attempts)
            missing.append(str(e))
            continue
        except (RuntimeError, ValueError, AttributeError, TypeError) as e:
            if refuses(e):
                raise refused(name, model_content, e) from None
            attempts[name] = (
                f"failed to create ({type(e).__name__}: {brief(e)})"
            )
            continue
        used = delegate or delegate_of(interpreter)
        remember(interpreter, model_content)
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
