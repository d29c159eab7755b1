"""How much TensorFlow, TFLite and CUDA log noise a command shows.

TensorFlow prints its start-up banner, CUDA probing errors on a machine
without a GPU, and the TFLite converter's progress through its C++
logging, which reads `TF_CPP_MIN_LOG_LEVEL` once, when TensorFlow is
imported. So `quiet_third_party_logs` must run before anything imports
TensorFlow: at the `tf-compact` entry point, before a command module is
imported. A few lines ignore that variable (the banner printed while the
libraries load, TFLite's `INFO:` lines, the converter's settings line);
`filtered_stderr` drops those from the command's stderr. The library
itself never changes logging.
"""

import contextlib
import logging
import os
import re
import subprocess
import sys
import warnings

from absl import logging as absl_logging

#: Device nodes that exist only where an NVIDIA driver is loaded.
_NVIDIA_DEVICE_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia/version")

#: Lines printed whatever `TF_CPP_MIN_LOG_LEVEL` says, by the severity
#: that hides them: C++ log lines written before absl's log is set up
#: (`I0000 00:00:17.5  42 port.cc:153] `, a zero date, unlike the Python
#: absl lines of tf_compact's own progress), the absl line before them,
#: TFLite's `INFO:` lines, the converter's settings line and the
#: CPU-features note.
_NOISE = {
    "I": (
        r"I0000 00:00:\S+ +\d+ \S+:\d+\] ",
        r"WARNING: All log messages before absl::InitializeLog\(\)",
        r"INFO: ",
        r"fully_quantize: ",
        r"To enable the following instructions:",
    ),
    "W": (r"W0000 00:00:\S+ +\d+ \S+:\d+\] ",),
    "E": (r"E0000 00:00:\S+ +\d+ \S+:\d+\] ",),
}

#: The filter process of `filtered_stderr`: copies stdin to stdout, less
#: the lines matching argv[1]; it outlives a crash of the command, so the
#: command's last words are never lost.
_FILTER = """
import re, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
noise = re.compile(sys.argv[1].encode())
for line in sys.stdin.buffer:
    if not noise.match(line):
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
"""

#: Python warnings that tell a command-line user nothing they can act on.
_FOREIGN_WARNINGS = (
    # The TFLite converter, about its own defaults.
    {"category": UserWarning, "module": r"tensorflow\.lite"},
    # Keras, about the shuffle argument of fit on an already shuffled
    # tf.data pipeline.
    {"message": r"`shuffle=True` was passed"},
)


#: The package that logs every problem it warns about: `tfc.compress`
#: reports a teacher with stale BN statistics or a damaged checkpoint in
#: its log and, for Python users, as a `UserWarning`.
_LOGGING_PACKAGE = "tf_compact.pipeline"


@contextlib.contextmanager
def pipeline_warnings_hidden(package=_LOGGING_PACKAGE):
    """Hides the `UserWarning`s that code of `package` issues.

    On the command line such a warning would repeat a log line of the
    pipeline, with a source line of the command attached. A `UserWarning`
    of the rest of tf_compact (a latency target no try met, ...) becomes
    one warning log line, without the source line. Warnings issued by
    other code are shown as before.

    Args:
        package: the package whose warnings are hidden. Defaults to
            `"tf_compact.pipeline"`.

    Yields:
        Nothing; the warnings settings are restored when the block exits.

    Example:

    ```python
    with pipeline_warnings_hidden():
        tfc.compress(teacher, bundle)  # its warnings: log lines only
    ```
    """
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def showwarning(message, category, *args, **kwargs):
            if not issubclass(category, UserWarning):
                shown(message, category, *args, **kwargs)
            elif _issued_in(package):
                return
            elif _issued_in("tf_compact"):
                absl_logging.warning("%s", message)
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = showwarning
        yield


#: Modules that pass a warning on for the code that calls them.
_RELAYS = ("warnings", "tf_compact.internal.user_warning")


def _issued_in(package):
    """Whether the `warnings.warn` being shown was called from `package`."""
    # Frames: this function, `showwarning`, then the warnings module's own
    # and `user_warning.warn`'s above the code that issued the warning.
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") in _RELAYS:
        frame = frame.f_back
    name = "" if frame is None else frame.f_globals.get("__name__", "")
    return name == package or name.startswith(package + ".")


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
    """Whether an NVIDIA driver is loaded, checked without importing TF.

    Returns:
        `True` when the driver's device nodes exist.

    Example:

    ```python
    has_nvidia_gpu()  # False on a CPU-only machine
    ```
    """
    return any(os.path.exists(path) for path in _NVIDIA_DEVICE_FILES)


def quiet_third_party_logs(verbosity=-1, environ=None):
    """Hides TensorFlow, TFLite converter and CUDA logs unless asked for.

    With `verbosity` below 0 (absl's default) TensorFlow's C++ logs are
    cut to errors, and on a machine without an NVIDIA driver to nothing
    (the `failed call to cuInit` line is a C++ error); TensorFlow's Python
    logger shows errors only, and the converter's warnings are hidden.
    `verbosity=0` shows TensorFlow warnings; `1` or more shows everything.
    A `TF_CPP_MIN_LOG_LEVEL` already set by the user is kept, and no GPU
    is hidden: only the log level changes. Run the command inside
    `filtered_stderr` with the returned level for the lines that ignore
    the variable.

    Args:
        verbosity: the absl `--verbosity` value. Defaults to `-1`.
        environ: the environment to update. Defaults to `os.environ`.

    Returns:
        The `TF_CPP_MIN_LOG_LEVEL` in effect afterwards, or `None`.

    Example:

    ```python
    level = quiet_third_party_logs(requested_verbosity(sys.argv))
    import tensorflow  # no CUDA or converter logs
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
    return environ.setdefault("TF_CPP_MIN_LOG_LEVEL", level)


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


def noise_pattern(level):
    """The regex of the stderr lines `filtered_stderr(level)` drops.

    Args:
        level: a `TF_CPP_MIN_LOG_LEVEL` value: `"1"` drops info lines,
            `"2"` also warnings, `"3"` also errors; anything else nothing.

    Returns:
        A regex source string, or `None` when nothing is dropped.

    Example:

    ```python
    re.match(noise_pattern("3"), "I0000 00:00:17.5  42 port.cc:1] x")
    ```
    """
    hidden = {"1": "I", "2": "IW", "3": "IWE"}.get(str(level).strip(), "")
    patterns = [p for letter in hidden for p in _NOISE[letter]]
    return "|".join(f"(?:{p})" for p in patterns) if patterns else None


@contextlib.contextmanager
def filtered_stderr(level):
    """Drops third-party log lines below `level` from file descriptor 2.

    Everything written to stderr inside the block, by Python or C++, goes
    through a small filter process that removes the lines of
    `noise_pattern(level)` and passes on the rest as it comes. Python's
    own errors and warnings are never dropped.

    Args:
        level: the `TF_CPP_MIN_LOG_LEVEL` in effect, e.g. the value
            `quiet_third_party_logs` returned; `None` filters nothing.

    Yields:
        Nothing; stderr is restored when the block exits.

    Example:

    ```python
    with filtered_stderr(quiet_third_party_logs()):
        import tensorflow  # no banner
    ```
    """
    pattern = noise_pattern(level)
    if pattern is None:
        yield
        return
    sys.stderr.flush()
    real = os.dup(2)
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", _FILTER, pattern],
            stdin=subprocess.PIPE,
            stdout=real,
        )
    except OSError:
        os.close(real)
        yield
        return
    os.dup2(child.stdin.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)
        os.close(real)
        child.stdin.close()
        child.wait()


def _kept_lines(text, level):
    pattern = noise_pattern(level)
    for line in text.splitlines(keepends=True):
        if pattern is None or not re.match(pattern, line):
            yield line
