"""How much TensorFlow, TFLite and CUDA log noise a command shows.

TensorFlow prints its start-up banner, CUDA probing errors on a machine
without a GPU, and the TFLite converter's progress through its C++
logging, which reads `TF_CPP_MIN_LOG_LEVEL` once, when TensorFlow is
imported, except for the banner lines its libraries print while they load
(before the variable is read, unless it was set when the process started).
So `quiet_third_party_logs` must run before anything imports TensorFlow: at
the `tf-compact` entry point, before a command module is imported; it
imports TensorFlow itself with that banner filtered out. The library
itself never changes logging.
"""

import logging
import os
import re
import sys
import tempfile
import warnings

from absl import logging as absl_logging

#: Device nodes that exist only where an NVIDIA driver is loaded.
_NVIDIA_DEVICE_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia/version")

#: C++ log lines by severity letter, and the absl line that precedes them.
_CPP_LINE = re.compile(r"([IWEF])\d{4} \S+ +\d+ \S+:\d+\] ")
_BANNER_LINES = (
    "WARNING: All log messages before absl::InitializeLog()",
    "To enable the following instructions:",
)

#: Python warnings that tell a command-line user nothing they can act on.
_FOREIGN_WARNINGS = (
    # The TFLite converter, about its own defaults.
    {"category": UserWarning, "module": r"tensorflow\.lite"},
    # Keras, about the shuffle argument of fit on an already shuffled
    # tf.data pipeline.
    {"message": r"`shuffle=True` was passed"},
)


def requested_verbosity(argv):
    """The absl `--verbosity` (`-v`) value on a command line, else -1.

    Args:
        argv: command-line arguments, flags in any absl spelling
            (`--verbosity=1`, `--verbosity 1`, `-v=1`, `-v 1`).

    Returns:
        The last value given as an int; -1 (absl's default) when none is
        given or it is not an integer.

    Example:

    ```python
    requested_verbosity(["--epochs=2", "-v", "1"])  # 1
    ```
    """
    value = None
    args = list(argv)
    for index, arg in enumerate(args):
        if arg == "--":
            break
        match = re.fullmatch(r"--?(?:verbosity|v)(?:=(.*))?", arg)
        if not match:
            continue
        if match.group(1) is not None:
            value = match.group(1)
        elif index + 1 < len(args):
            value = args[index + 1]
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def has_nvidia_gpu():
    """Whether an NVIDIA driver is loaded, checked without importing TF."""
    return any(os.path.exists(path) for path in _NVIDIA_DEVICE_FILES)


def quiet_third_party_logs(verbosity=-1, environ=None):
    """Hides TensorFlow, TFLite converter and CUDA logs unless asked for.

    With `verbosity` below 0 (absl's default) TensorFlow's C++ logs are
    cut to errors, and on a machine without an NVIDIA driver to nothing
    (the `failed call to cuInit` line is a C++ error); TensorFlow's Python
    logger shows errors only, and the converter's warnings are hidden.
    `verbosity=0` shows TensorFlow warnings; `1` or more shows everything.
    A `TF_CPP_MIN_LOG_LEVEL` already set by the user is kept (and also
    applied to the start-up banner), and no GPU is hidden: only the log
    level changes.

    Args:
        verbosity: the absl `--verbosity` value. Defaults to `-1`.
        environ: the environment to update. Defaults to `os.environ`.

    Returns:
        The `TF_CPP_MIN_LOG_LEVEL` in effect afterwards, or `None`.

    Example:

    ```python
    quiet_third_party_logs(requested_verbosity(sys.argv))
    import tensorflow  # no banner
    ```
    """
    environ = os.environ if environ is None else environ
    if verbosity >= 1:
        level, python_level = None, logging.DEBUG
    elif verbosity == 0:
        level, python_level = "1", logging.WARNING
    else:
        level = "2" if has_nvidia_gpu() else "3"
        python_level = logging.ERROR
        for rule in _FOREIGN_WARNINGS:
            warnings.filterwarnings("ignore", **rule)
    logging.getLogger("tensorflow").setLevel(python_level)
    # TensorFlow's SavedModel export and converter log through absl's
    # logger, the one tf_compact's own progress goes through.
    absl_logger = absl_logging.get_absl_logger()
    for old in [f for f in absl_logger.filters if isinstance(f, _Foreign)]:
        absl_logger.removeFilter(old)
    if level is None:
        return environ.get("TF_CPP_MIN_LOG_LEVEL")
    absl_logger.addFilter(_Foreign(python_level))
    level = environ.setdefault("TF_CPP_MIN_LOG_LEVEL", level)
    quiet = level.strip() in ("1", "2", "3")  # else TensorFlow decides
    if quiet and environ is os.environ and "tensorflow" not in sys.modules:
        _import_tensorflow_without_banner(int(level))
    return level


class _Foreign(logging.Filter):
    """Drops records below `level` logged from TensorFlow's own files."""

    _PACKAGES = ("tensorflow", "tf_keras", "ai_edge_litert", "tflite_runtime")

    def __init__(self, level):
        super().__init__()
        self.level = level

    def filter(self, record):
        if record.levelno >= self.level:
            return True
        parts = os.path.normpath(record.pathname or "").split(os.sep)
        return not any(package in parts for package in self._PACKAGES)


def _import_tensorflow_without_banner(level):
    """Imports TensorFlow, dropping the C++ lines below `level` it prints.

    Everything else written to stderr meanwhile (Python warnings, errors)
    is written again afterwards, also when the import fails.
    """
    hidden = "IWE"[: min(level, 3)]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            sys.stderr.write("".join(_kept_lines(text, hidden)))
            sys.stderr.flush()


def _kept_lines(text, hidden):
    for line in text.splitlines(keepends=True):
        match = _CPP_LINE.match(line)
        if match and match.group(1) in hidden:
            continue
        if hidden and line.startswith(_BANNER_LINES):
            continue
        yield line
