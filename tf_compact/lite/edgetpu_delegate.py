"""Coral's Edge TPU delegate (`libedgetpu`), loaded through a runtime's
external-delegate API so that a model compiled by `edgetpu_compiler` runs its
`edgetpu-custom-op` on the Edge TPU."""

import gc
import platform
import sys

from tf_compact.lite.errors import RuntimeUnavailableError
from tf_compact.lite.runtime_modules import brief
from tf_compact.lite.runtime_modules import interpreter_module

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


def edgetpu_library():
    """The file name of Coral's Edge TPU runtime library on this system.

    Example:

    ```python
    tfc.lite.edgetpu_delegate.edgetpu_library()  # "libedgetpu.so.1" on Linux
    ```
    """
    return EDGETPU_LIBRARIES.get(platform.system(), "libedgetpu.so.1")


def _load_delegate(runtime, library, options):
    """Loads an external delegate with `runtime`'s `load_delegate`."""
    module = interpreter_module(runtime)
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
    delegate = tfc.lite.edgetpu_delegate.load_edgetpu_delegate()
    ```
    """
    library = library or edgetpu_library()
    try:
        return _load_delegate(runtime, library, options)
    except (OSError, ValueError, RuntimeError, AttributeError) as e:
        error = RuntimeUnavailableError(
            f"The Edge TPU delegate {library!r} could not be loaded through "
            f"{runtime} ({type(e).__name__}: {brief(e)}); " + EDGETPU_INSTALL,
            {runtime: f"{library} not loaded ({brief(e)})"},
        )
        _drop_half_made_delegate(e)
    raise error from None


def _drop_half_made_delegate(error):
    """Frees the runtime's `Delegate` whose `__init__` failed, quietly.

    Its `__del__` reads an attribute `__init__` never set, and the runtime
    prints that `AttributeError` as "Exception ignored" under the clear
    error above; the object lives in `error`'s traceback.
    """
    shown = sys.unraisablehook

    def quiet(unraisable):
        where = getattr(unraisable.object, "__qualname__", "")
        half_made = where == "Delegate.__del__"
        if not (half_made and unraisable.exc_type is AttributeError):
            shown(unraisable)

    sys.unraisablehook = quiet
    try:
        error.__traceback__ = None
        gc.collect()
    finally:
        sys.unraisablehook = shown
