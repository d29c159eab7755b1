"""What keeps a TFLite model, or one of its ops, off the Edge TPU: the
`Finding`s of the static check (Coral's rules, the single cut) and those read
from the compiler's log, with one row per op saying where it runs."""

import collections
import dataclasses

from tf_compact.lite.edgetpu_graph import EDGETPU_CUSTOM_OP
from tf_compact.lite.edgetpu_limits import check_op
from tf_compact.lite.edgetpu_rules import ERROR
from tf_compact.lite.edgetpu_rules import WARNING
from tf_compact.lite.edgetpu_rules import check_version

IO_REASON = "float I/O conversion (runs on CPU, does not cut the graph)"
# Fixes for the statuses the compiler prints in its operation table.
_STATUS_FIXES = (
    ("unsupported data type", "convert to full int8: mode='int8' or 'qat'"),
    ("unsupported rank", "use batch size 1 (convert(..., target='edgetpu'))"),
    ("static-sized", "convert with target='edgetpu' for static shapes"),
    ("more than one subgraph", "fix the first op that does not map"),
    ("not supported", "replace the layer with supported operations"),
    ("unspecified limitation", "check the op's limits in the findings"),
)


@dataclasses.dataclass
class Finding:
    """One reason a model, or one of its ops, does not fully map.

    Args:
        rule: Rule id, e.g. `"static_shape"`, `"fused_activation"`,
            `"after_cut"`, `"op_version"`, `"compiler"`.
        severity: `"error"` (runs on the CPU or fails to compile) or
            `"warning"` (may not map; the compiler decides).
        message: What is wrong, with values read from the model.
        fix: How to fix it.
        index: The op's index in the execution plan, or `None` for the
            model as a whole. Defaults to `None`.
        op: The op's builtin name, or `None`. Defaults to `None`.
        layer: The Keras layer the op came from, when known. Defaults to
            `None`.

    Example:

    ```python
    for finding in report.findings:
        print(finding.text())
    ```
    """

    rule: str
    severity: str
    message: str
    fix: str
    index: int = None
    op: str = None
    layer: str = None

    def text(self):
        """One line: where, what, and the fix."""
        where = "model"
        if self.op is not None:
            where = (
                f"#{self.index} {self.op}"
                if self.index is not None
                else self.op
            )
            if self.layer:
                where += f" (layer {self.layer!r})"
        return f"{self.severity}: {where}: {self.message}. Fix: {self.fix}."

    def get_config(self):
        """Returns the fields as a JSON-compatible dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        """Creates a `Finding` from `get_config()` output."""
        return cls(**config)


def _is_io_conversion(op):
    if op.op == "QUANTIZE":
        return any(t.dtype.startswith("float") for t in op.inputs)
    if op.op == "DEQUANTIZE":
        return any(t.dtype.startswith("float") for t in op.outputs)
    return False


def _io_indices(ops):
    """Positions of the leading QUANTIZE and trailing DEQUANTIZE ops."""
    io = set()
    for i, op in enumerate(ops):
        if not (op.op == "QUANTIZE" and _is_io_conversion(op)):
            break
        io.add(i)
    for i in range(len(ops) - 1, -1, -1):
        if not (ops[i].op == "DEQUANTIZE" and _is_io_conversion(ops[i])):
            break
        io.add(i)
    return io


def _finding(violation, op):
    return Finding(
        rule=violation.rule,
        severity=violation.severity,
        message=violation.message,
        fix=violation.fix,
        index=op.index,
        op=op.op,
        layer=op.layer,
    )


def _row(op, device, reason, int8):
    dtypes = sorted({t.dtype for t in op.outputs})
    return {
        "index": op.index,
        "op": op.op,
        "version": op.version,
        "layer": op.layer,
        "dtypes": ",".join(dtypes),
        "int8": int8,
        "device": device,
        "reason": reason,
    }


def _model_findings(graph):
    found = []
    for t in graph.inputs:
        if t.dynamic:
            found.append(
                Finding(
                    "static_shape",
                    ERROR,
                    f"input {t.name!r} has shape_signature "
                    f"{list(t.signature)}: a dynamic dimension (the Edge "
                    "TPU takes static shapes, batch 1)",
                    "convert with target='edgetpu', or build the model on "
                    "keras.Input(shape, batch_size=1)",
                )
            )
    floats = [
        t.name
        for t in graph.inputs + graph.outputs
        if t.dtype.startswith("float")
    ]
    if floats:
        found.append(
            Finding(
                "integer_io",
                WARNING,
                f"float inputs/outputs {floats}: their QUANTIZE/DEQUANTIZE "
                "run on the CPU at every inference",
                "convert with inference_io='uint8' or 'int8'",
            )
        )
    if graph.num_subgraphs > 1:
        found.append(
            Finding(
                "subgraphs",
                WARNING,
                f"{graph.num_subgraphs} subgraphs (control flow): the ops "
                "of the bodies run on the CPU with the op that calls them",
                "remove control flow (tf.cond, tf.while_loop, RNN loops) "
                "from the model",
            )
        )
    return found


def static_check(graph):
    """Per-op rows and findings, with the single cut applied."""
    main = [op for op in graph.ops if op.subgraph == 0]
    io = _io_indices(main)
    rows, findings, cut = [], _model_findings(graph), None
    for i, op in enumerate(main):
        if i in io:
            rows.append(_row(op, "cpu", IO_REASON, True))
            continue
        if op.op == EDGETPU_CUSTOM_OP and cut is None:
            rows.append(_row(op, "edgetpu", "", True))
            continue
        violations = check_op(op) + check_version(op)
        findings.extend(_finding(v, op) for v in violations)
        errors = [v for v in violations if v.severity == ERROR]
        int8 = not any(v.rule == "full_int8" for v in errors)
        if errors:
            if cut is None:
                cut = op
            rows.append(_row(op, "cpu", errors[0].message, int8))
        elif cut is not None:
            reason = (
                f"after the first unmapped op (#{cut.index} {cut.op}): the "
                "compiler cuts the graph once"
            )
            rows.append(_row(op, "cpu", reason, int8))
            findings.append(
                Finding(
                    "after_cut",
                    ERROR,
                    reason,
                    f"make #{cut.index} {cut.op} map (or move it to the "
                    "end of the model)",
                    op.index,
                    op.op,
                    op.layer,
                )
            )
        else:
            rows.append(_row(op, "edgetpu", "", int8))
    for op in graph.ops:
        if op.subgraph:
            rows.append(_row(op, "cpu", "in a control-flow subgraph", False))
    return _refused_whole(rows, findings), findings


def _refused_whole(rows, findings):
    """Every op on the CPU when an op version is newer than the
    compiler's registry: it then compiles nothing."""
    newer = [
        f for f in findings if f.rule == "op_version" and f.severity == ERROR
    ]
    if not newer:
        return rows
    first = newer[0]
    reason = (
        f"the compiler refuses the whole model (#{first.index} "
        f"{first.op}: op version too new)"
    )
    for row in rows:
        if row["device"] == "edgetpu":
            row.update(device="cpu", reason=reason)
    return rows


def _status_fix(status):
    lowered = status.lower()
    for key, fix in _STATUS_FIXES:
        if key in lowered:
            return fix
    return "see the compiler's operation log"


def compiler_findings(log, rows):
    """`Finding`s from the compiler's errors and its unmapped ops."""
    found = []
    for line in log.errors:
        fix = "see the compiler's message"
        if "builtin opcode" in line:
            fix = (
                "the compiler does not know this op version: convert with "
                "an older TensorFlow, or avoid the feature that raised it"
            )
        elif "large activation" in line:
            fix = "use smaller inputs or fewer channels"
        found.append(Finding("compiler_error", ERROR, line, fix))
    by_op = collections.defaultdict(list)
    for row in rows:
        if row["reason"] != IO_REASON:
            by_op[row["op"]].append(row)
    for entry in log.not_mapped:
        same = by_op.get(entry["op"], [])
        cpu = [r for r in same if r["device"] == "cpu"]
        if len(same) == entry["count"]:
            places = same
        elif len(cpu) == entry["count"]:
            places = cpu
        else:
            places = [None]
        for row in places:
            found.append(
                Finding(
                    "compiler",
                    ERROR,
                    f"compiler: {entry['count']} x {entry['op']}: "
                    f"{entry['status']}",
                    _status_fix(entry["status"]),
                    None if row is None else row["index"],
                    entry["op"],
                    None if row is None else row["layer"],
                )
            )
    return found
