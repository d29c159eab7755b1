"""Running Coral's `edgetpu_compiler` and reading what it prints.

The compiler (a Debian package, `edgetpu-compiler`, x86-64 Linux only)
writes `<name>_edgetpu.tflite` and prints a summary: the compiler version,
"Model compiled successfully in N ms.", input/output sizes, on-chip memory
used and remaining for caching parameters, off-chip memory used for
streaming the rest, the number of Edge TPU subgraphs and operations, and
with `-s` (`--show_operations`) a table of `Operator  Count  Status`
rows, where the status is "Mapped to Edge TPU" or why not. Failures print
`ERROR:` lines (an op version it does not know: "Didn't find op for
builtin opcode 'X' version 'N'"), "Invalid model", "Model could not be
parsed", "Compilation failed: ..." or "Internal compiler error".
"""

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile

COMPILER = "edgetpu_compiler"
MAPPED = "Mapped to Edge TPU"
INSTALL_HINT = (
    "install it on x86-64 Debian/Ubuntu with `sudo apt-get install "
    "edgetpu-compiler` from Coral's package repository "
    "(https://coral.ai/docs/edgetpu/compiler/)"
)

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_SIZE = r"([\d.]+)\s*(B|KiB|MiB|GiB)"
_FIELDS = {
    "input_size": re.compile(r"^Input size:\s*" + _SIZE, re.M),
    "output_size": re.compile(r"^Output size:\s*" + _SIZE, re.M),
    "on_chip_used": re.compile(
        r"^On-chip memory used for caching model parameters:\s*" + _SIZE,
        re.M,
    ),
    "on_chip_remaining": re.compile(
        r"^On-chip memory remaining for caching model parameters:\s*" + _SIZE,
        re.M,
    ),
    "off_chip_used": re.compile(
        r"^Off-chip memory used for streaming uncached model parameters:"
        r"\s*" + _SIZE,
        re.M,
    ),
}
_COUNTS = {
    "num_subgraphs": re.compile(
        r"^Number of Edge TPU subgraphs:\s*(\d+)", re.M
    ),
    "total_ops": re.compile(r"^Total number of operations:\s*(\d+)", re.M),
    "ops_on_edgetpu": re.compile(
        r"^Number of operations that will run on Edge TPU:\s*(\d+)", re.M
    ),
    "ops_on_cpu": re.compile(
        r"^Number of operations that will run on CPU:\s*(\d+)", re.M
    ),
}
_VERSION = re.compile(r"Edge TPU Compiler version\s+(\S+)")
_SUCCESS = re.compile(r"Model compiled successfully in (\d+) ms")
_OUTPUT_MODEL = re.compile(r"^Output model:\s*(.+?)\s*$", re.M)
_ROW = re.compile(r"^([A-Z][A-Z0-9_]*|[a-z][\w-]*-op)\s+(\d+)\s+(\S.*?)\s*$")
_ERRORS = re.compile(
    r"^(ERROR:.*|Invalid model.*|Model could not be parsed.*|"
    r"Compilation failed.*|Internal compiler error.*)$",
    re.M,
)


def _bytes(match):
    if match is None:
        return None
    value, unit = match.groups()
    return int(round(float(value) * _UNITS[unit]))


@dataclasses.dataclass
class CompilerLog:
    """What `edgetpu_compiler` printed, read into fields.

    Args:
        text: The full output (stdout and stderr).
        version: Compiler version string, or `None`.
        compiled: Whether it printed "Model compiled successfully".
        errors: `ERROR:` and failure lines, in order.
        sizes: Dict of byte counts: `input_size`, `output_size`,
            `on_chip_used`, `on_chip_remaining`, `off_chip_used` (`None`
            where not printed).
        counts: Dict of `num_subgraphs`, `total_ops`, `ops_on_edgetpu`,
            `ops_on_cpu` (`None` where not printed).
        operations: Rows of the operation table, dicts with `op`, `count`
            and `status`.
        output_model: Path of the compiled model it wrote, or `None`.
        returncode: The process exit code, or `None` for a parsed text.

    Example:

    ```python
    log = parse_compiler_log(open("compile.txt").read())
    print(log.compiled, log.sizes["on_chip_used"], log.not_mapped)
    ```
    """

    text: str
    version: str = None
    compiled: bool = False
    errors: list = dataclasses.field(default_factory=list)
    sizes: dict = dataclasses.field(default_factory=dict)
    counts: dict = dataclasses.field(default_factory=dict)
    operations: list = dataclasses.field(default_factory=list)
    output_model: str = None
    returncode: int = None

    @property
    def fully_mapped(self):
        """Whether it compiled and every operation runs on the Edge TPU."""
        if not self.compiled:
            return False
        if self.counts.get("ops_on_cpu"):
            return False
        return all(row["status"] == MAPPED for row in self.operations)

    @property
    def not_mapped(self):
        """Operation-table rows whose status is not "Mapped to Edge TPU"."""
        return [row for row in self.operations if row["status"] != MAPPED]

    def get_config(self):
        """Returns the fields as a JSON-compatible dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        """Creates a `CompilerLog` from `get_config()` output."""
        return cls(**config)


def parse_compiler_log(text, returncode=None):
    """Reads the output of `edgetpu_compiler` into a `CompilerLog`.

    Args:
        text: What the compiler printed (best with `-s`, which adds the
            per-operator table).
        returncode: The exit code, if known. A non-zero code marks the
            log as not compiled. Defaults to `None`.

    Returns:
        A `CompilerLog`.

    Example:

    ```python
    log = parse_compiler_log(completed.stdout, completed.returncode)
    ```
    """
    version = _VERSION.search(text)
    output = _OUTPUT_MODEL.search(text)
    failed = "Compilation failed" in text or (returncode not in (None, 0))
    rows, in_table = [], False
    for line in text.splitlines():
        if line.split()[:3] == ["Operator", "Count", "Status"]:
            in_table = True
            continue
        match = _ROW.match(line.strip()) if in_table else None
        if match:
            op, count, status = match.groups()
            rows.append({"op": op, "count": int(count), "status": status})
    counts = {}
    for key, pattern in _COUNTS.items():
        match = pattern.search(text)
        counts[key] = int(match.group(1)) if match else None
    return CompilerLog(
        text=text,
        version=version.group(1) if version else None,
        compiled=bool(_SUCCESS.search(text)) and not failed,
        errors=[m.strip() for m in _ERRORS.findall(text)],
        sizes={k: _bytes(p.search(text)) for k, p in _FIELDS.items()},
        counts=counts,
        operations=rows,
        output_model=output.group(1) if output else None,
        returncode=returncode,
    )


def find_compiler(compiler=None):
    """Returns the path of `edgetpu_compiler`, or `None` if not found.

    Args:
        compiler: A path or command name to look up instead of
            `"edgetpu_compiler"`. Defaults to `None`.

    Example:

    ```python
    if find_compiler() is None:
        print("no Edge TPU compiler on the PATH")
    ```
    """
    return shutil.which(compiler or COMPILER)


def run_compiler(
    model_content, out_dir=None, compiler=None, timeout=300, name="model"
):
    """Compiles a `.tflite` model with `edgetpu_compiler -s`.

    Args:
        model_content: The `.tflite` flatbuffer, as bytes.
        out_dir: Folder for `model_edgetpu.tflite` and its `.log`; a
            temporary folder (removed afterwards) when `None`. Defaults to
            `None`.
        compiler: The compiler command or path. Defaults to
            `"edgetpu_compiler"` on the PATH.
        timeout: Seconds before the compiler is stopped. Defaults to `300`.
        name: File stem: the compiler reads `<name>.tflite` and writes
            `<name>_edgetpu.tflite`. Defaults to `"model"`.

    Returns:
        A `CompilerLog` (with `returncode`). Its `output_model` is the
        compiled file's absolute path when `out_dir` was given and the
        file was written, else `None`.

    Raises:
        FileNotFoundError: If the compiler is not found; the message says
            how to install it.

    Example:

    ```python
    log = run_compiler(tflite, out_dir="build")
    print(log.compiled, log.sizes["on_chip_used"])
    ```
    """
    path = find_compiler(compiler)
    if path is None:
        raise FileNotFoundError(
            f"{compiler or COMPILER!r} was not found on the PATH; "
            + INSTALL_HINT
        )
    with tempfile.TemporaryDirectory() as workdir:
        source = os.path.join(workdir, f"{name}.tflite")
        with open(source, "wb") as f:
            f.write(bytes(model_content))
        target = os.path.abspath(out_dir) if out_dir else workdir
        os.makedirs(target, exist_ok=True)
        try:
            done = subprocess.run(
                [path, "-s", "-o", target, source],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            text, code = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired as e:
            text = f"{e.stdout or ''}\nCompilation failed: timed out after "
            text += f"{timeout} s"
            code = None
        log = parse_compiler_log(text, code)
        compiled = os.path.join(target, f"{name}_edgetpu.tflite")
        log.output_model = (
            compiled if out_dir and os.path.exists(compiled) else None
        )
    return log
