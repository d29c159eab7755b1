"""Edge TPU compatibility report of a `.tflite` model.

`edgetpu_report` checks a model against what Coral documents for the Edge
TPU (see `tf_compact.lite.edgetpu_rules`): full-integer tensors, static
shapes, at most three dimensions above 1, the supported operations and
their limits, op versions the compiler knows, and the compiler's single
cut (from the first op that does not map, every op runs on the CPU). Each
finding names the op, its index in the execution plan and the Keras layer
it came from, and says how to fix it. When `edgetpu_compiler` is on the
PATH it is run too and its log (ops mapped, on-chip and off-chip memory,
errors) is read into the report; without it, the report lists what only
the compiler can check.
"""

import dataclasses
import os

from tf_compact.lite.edgetpu_compiler import INSTALL_HINT
from tf_compact.lite.edgetpu_compiler import CompilerLog
from tf_compact.lite.edgetpu_compiler import find_compiler
from tf_compact.lite.edgetpu_compiler import run_compiler
from tf_compact.lite.edgetpu_findings import IO_REASON
from tf_compact.lite.edgetpu_findings import Finding
from tf_compact.lite.edgetpu_findings import compiler_findings
from tf_compact.lite.edgetpu_findings import static_check
from tf_compact.lite.edgetpu_graph import read_graph
from tf_compact.lite.edgetpu_rules import ERROR
from tf_compact.lite.edgetpu_rules import WARNING
from tf_compact.lite.flatbuffer import load_model_content

__all__ = ["EdgeTpuReport", "edgetpu_report"]

_UNCHECKED = (
    "the compiler's own mapping decisions (limits Coral leaves to the "
    "compiler, e.g. large reshapes and resize precision)",
    "on-chip memory used for caching parameters and off-chip streaming",
    "that the compiler accepts every op version (checked against a table)",
)


def _size(n):
    if n is None:
        return "?"
    for unit, scale in (("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


@dataclasses.dataclass
class EdgeTpuReport:
    """Which ops of a TFLite model map to the Edge TPU, and why not.

    Args:
        ops: One dict per op of the main graph in execution order (then the
            ops of control-flow subgraphs), with keys `index`, `op`,
            `version`, `layer`, `dtypes`, `int8` (no float tensors),
            `device` (`"edgetpu"` or `"cpu"`) and `reason` (why it runs on
            the CPU, empty otherwise).
        findings: `Finding`s: every rule an op or the model fails, errors
            and warnings. Defaults to `[]`.
        compiler: The `CompilerLog` when `edgetpu_compiler` ran, else
            `None`. Defaults to `None`.
        unchecked: What could not be checked (without the compiler).
            Defaults to `[]`.

    Example:

    ```python
    report = tfc.lite.edgetpu_report(tflite)
    print(report.compatible, report.cpu_fallback)
    for finding in report.errors:
        print(finding.text())
    print(report.table())
    ```
    """

    ops: list
    findings: list = dataclasses.field(default_factory=list)
    compiler: CompilerLog = None
    unchecked: list = dataclasses.field(default_factory=list)

    @property
    def errors(self):
        """Findings of severity `"error"`."""
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self):
        """Findings of severity `"warning"`."""
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def compatible(self):
        """Whether every op maps to the Edge TPU.

        When the compiler ran, its verdict (compiled, and every op mapped);
        otherwise, that the static check found no error.
        """
        if self.compiler is not None:
            return self.compiler.fully_mapped
        return bool(self.ops) and not self.errors

    @property
    def full_int8(self):
        """Whether every op but the I/O conversions reads and writes only
        int8/uint8 tensors (no float, int16 or int32 ones)."""
        return all(row["int8"] for row in self.ops)

    @property
    def static_shapes(self):
        """Whether no tensor has a dynamic dimension."""
        return not any(f.rule == "static_shape" for f in self.findings)

    @property
    def cpu_fallback(self):
        """Ops (with layer, when known) that fall back to the CPU.

        The float input QUANTIZE and output DEQUANTIZE of a model with float
        I/O also run on the CPU but are expected there, so they are listed
        in `io_conversions` instead.
        """
        return [
            row["op"] + (f" ({row['layer']})" if row["layer"] else "")
            for row in self.ops
            if row["device"] == "cpu" and row["reason"] != IO_REASON
        ]

    @property
    def io_conversions(self):
        """Float-to-int8 input and int8-to-float output ops."""
        return [row["op"] for row in self.ops if row["reason"] == IO_REASON]

    def summary(self):
        """One line: the verdict, ops on the CPU, memory when compiled."""
        verdict = "compatible" if self.compatible else "not compatible"
        text = (
            f"Edge TPU: {verdict}; {len(self.cpu_fallback)} of "
            f"{len(self.ops)} ops on CPU (static check)"
        )
        log = self.compiler
        if log is not None:
            state = "compiled" if log.compiled else "compilation failed"
            text += f"; compiler {log.version or '?'}: {state}"
            if log.compiled:
                text += (
                    f", {log.counts.get('ops_on_cpu') or 0} ops on CPU, "
                    f"on-chip {_size(log.sizes.get('on_chip_used'))}, "
                    f"off-chip {_size(log.sizes.get('off_chip_used'))}"
                )
        else:
            text += "; edgetpu_compiler not run"
        return text + "."

    def table(self):
        """Returns the per-op table, findings and verdict as markdown."""
        lines = [
            "| # | op | v | layer | dtypes | device | reason |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in self.ops:
            lines.append(
                f"| {row['index']} | {row['op']} | {row.get('version', '')} "
                f"| {row['layer'] or ''} | {row['dtypes']} | "
                f"{row['device']} | {row['reason']} |"
            )
        lines.append("")
        lines.extend(f"- {f.text()}" for f in self.findings)
        lines.extend(f"- not checked: {item}" for item in self.unchecked)
        lines.append("")
        lines.append(self.summary())
        return "\n".join(lines)

    def get_config(self):
        """Returns the fields as a JSON-compatible dict."""
        return {
            "ops": [dict(row) for row in self.ops],
            "findings": [f.get_config() for f in self.findings],
            "compiler": None
            if self.compiler is None
            else self.compiler.get_config(),
            "unchecked": list(self.unchecked),
        }

    @classmethod
    def from_config(cls, config):
        """Creates an `EdgeTpuReport` from `get_config()` output."""
        log = config.get("compiler")
        return cls(
            ops=[dict(row) for row in config["ops"]],
            findings=[
                Finding.from_config(f) for f in config.get("findings", [])
            ],
            compiler=None if log is None else CompilerLog.from_config(log),
            unchecked=list(config.get("unchecked", [])),
        )


def _stem(tflite):
    """The file stem the compiler's output is named after."""
    path = tflite if isinstance(tflite, (str, os.PathLike)) else None
    path = path or getattr(tflite, "output_path", None)
    if not path:
        return "model"
    return os.path.splitext(os.path.basename(os.fspath(path)))[0] or "model"


def _validate_compiler(compiler):
    if compiler is None or compiler is False or compiler == "auto":
        return
    if not isinstance(compiler, str):
        raise TypeError(
            "Invalid type for argument `compiler`. Expected `'auto'`, "
            "`None` or a command/path string. Received: "
            f"type={type(compiler).__name__}"
        )


def edgetpu_report(
    tflite,
    layer_names=None,
    compiler="auto",
    out_dir=None,
    timeout=300,
):
    """Checks a TFLite model against the Edge TPU's documented requirements.

    The static check reads the model and applies Coral's rules (see
    `tf_compact.lite.edgetpu_rules`): full int8 (int8/uint8 tensors, no
    float op), static shapes (no `-1` in any `shape_signature`), at most
    three dimensions above 1 (batch 1), the supported ops and their limits
    (fused activations, reduction and padding axes, strides, dilations,
    softmax size...), op versions the compiler's registry knows, and the
    single cut: from the first op that does not map, every op runs on the
    CPU. When `edgetpu_compiler` is found it is run as well, and its log is
    parsed into `report.compiler`; it then decides `report.compatible`.

    Args:
        tflite: The `.tflite` flatbuffer as bytes (e.g. a
            `ConversionResult`), or a path to a `.tflite` file.
        layer_names: Optional Keras layer names, to name ops by layer.
            Defaults to `None` (layers are read from tensor names).
        compiler: `"auto"` runs `edgetpu_compiler` when it is on the PATH;
            `None` never runs it; a command or path runs that compiler
            (`FileNotFoundError` if it is missing). Defaults to `"auto"`.
        out_dir: Where the compiler writes `<name>_edgetpu.tflite` and its
            log; a temporary folder when `None`. Defaults to `None`.
        timeout: Seconds the compiler may run. Defaults to `300`.

    Returns:
        An `EdgeTpuReport`.

    Raises:
        ValueError: If `tflite` is not a TFLite flatbuffer.
        FileNotFoundError: If `compiler` names a compiler that is missing.

    Example:

    ```python
    tflite = tfc.lite.convert(model, "int8", representative_data=x,
                              target="edgetpu")
    report = tfc.lite.edgetpu_report(tflite)
    assert report.compatible, [f.text() for f in report.errors]
    ```
    """
    _validate_compiler(compiler)
    name = _stem(tflite)
    content = load_model_content(tflite)
    graph = read_graph(content, layer_names)
    rows, findings = static_check(graph)
    log = None
    if compiler == "auto":
        if find_compiler() is not None:
            log = run_compiler(content, out_dir, None, timeout, name)
    elif compiler:
        log = run_compiler(content, out_dir, compiler, timeout, name)
    if log is not None:
        findings.extend(compiler_findings(log, rows))
        unchecked = []
    else:
        unchecked = [f"edgetpu_compiler not run ({INSTALL_HINT})"]
        unchecked.extend(_UNCHECKED)
    return EdgeTpuReport(
        ops=rows, findings=findings, compiler=log, unchecked=unchecked
    )
