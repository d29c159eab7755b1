"""Which ops of a TFLite model would fall back from the GPU delegate."""

import contextlib
import dataclasses
import io
import re

from tf_compact.lite.flatbuffer import check_model
from tf_compact.lite.flatbuffer import load_model_content
from tf_compact.lite.gpu_rules import gpu_reason
from tf_compact.lite.gpu_rules import op_views
from tf_compact.lite.ops import read_ops

_OP_LINE = re.compile(r"^\s*Op#(\d+)\s+([A-Za-z0-9_]+)\(")
#: Ops that compute a shape at run time: a dynamic batch makes `Flatten`
#: and `Reshape` emit them, and a fixed batch folds them away.
_SHAPE_OPS = ("SHAPE", "STRIDED_SLICE", "PACK")
FIXED_BATCH_FIX = (
    "Fix: the model's batch size is dynamic, so a Flatten or Reshape "
    "computes its shape here at run time; build the model on a fixed "
    "batch, keras.Input(shape, batch_size=1), and the converter folds it"
)
_WARNING = "GPU COMPATIBILITY WARNING:"


@dataclasses.dataclass
class GpuReport:
    """Which ops of a TFLite model the LiteRT GPU delegate would run.

    Args:
        ops: One dict per op in execution order, with keys `index`, `op`,
            `layer`, `supported` (the delegate takes it), `reason` (why not,
            empty otherwise), `source` (`"rules"` or `"analyzer"`, who
            found the reason) and `device` (`"gpu"` or `"cpu"`).
        max_delegated_partitions: Partitions the delegate takes (its
            default option is 1: only the largest run of supported ops goes
            to the GPU).
        analyzer: What `tf.lite.experimental.Analyzer` said: `"checked"`
            if it printed per-op GPU warnings, `"no warnings"` if it
            printed none, `"unavailable"` if it could not run.

    Example:

    ```python
    report = tfc.lite.gpu_report(tflite)
    print(report.compatible, report.fallback)
    print(report.table())
    ```
    """

    ops: list
    max_delegated_partitions: int = 1
    analyzer: str = "unavailable"

    @property
    def compatible(self):
        """Whether every op would run on the GPU."""
        return bool(self.ops) and not self.fallback

    @property
    def unsupported(self):
        """`(index, op, layer, reason)` of the ops the delegate rejects."""
        return [
            (row["index"], row["op"], row["layer"], row["reason"])
            for row in self.ops
            if not row["supported"]
        ]

    @property
    def fallback(self):
        """Ops (with layer, when known) that would run on the CPU: the
        rejected ones and supported ones outside the delegated partitions."""
        return [
            f"{row['op']}#{row['index']}"
            + (f" ({row['layer']})" if row["layer"] else "")
            for row in self.ops
            if row["device"] == "cpu"
        ]

    @property
    def partitions(self):
        """Runs of consecutive supported ops, as lists of op indices."""
        return _runs(self.ops)

    def table(self):
        """Returns the per-op table as markdown."""
        lines = [
            "| # | op | layer | device | reason |",
            "|---|---|---|---|---|",
        ]
        for row in self.ops:
            lines.append(
                f"| {row['index']} | {row['op']} | {row['layer'] or ''} | "
                f"{row['device']} | {row['reason']} |"
            )
        lines.append("")
        lines.append(f"GPU delegate: {self.summary()}")
        return "\n".join(lines)

    def summary(self):
        """One line: the verdict, the ops on the CPU and the partitions."""
        verdict = "compatible" if self.compatible else "not compatible"
        line = (
            f"{verdict}; {len(self.fallback)} of {len(self.ops)} ops on CPU, "
            f"{len(self.partitions)} GPU partition(s), "
            f"{self.max_delegated_partitions} delegated."
        )
        if self.fallback:
            shown = ", ".join(self.fallback[:8])
            more = len(self.fallback) - 8
            line += f" On CPU: {shown}" + (
                f" and {more} more." if more > 0 else "."
            )
        if any(FIXED_BATCH_FIX in row["reason"] for row in self.ops):
            line += f" {FIXED_BATCH_FIX}."
        return line

    def get_config(self):
        """Returns the fields as a JSON-compatible dict."""
        return {
            "ops": [dict(row) for row in self.ops],
            "max_delegated_partitions": self.max_delegated_partitions,
            "analyzer": self.analyzer,
        }

    @classmethod
    def from_config(cls, config):
        """Creates a `GpuReport` from `get_config()` output."""
        config = dict(config)
        config["ops"] = [dict(row) for row in config["ops"]]
        return cls(**config)


def _dynamic_batch(model):
    """Whether an input of the first subgraph has an unknown batch."""
    graph = model.subgraphs[0]
    for index in graph.inputs:
        signature = graph.tensors[index].shapeSignature
        if signature is not None and len(signature) and signature[0] < 0:
            return True
    return False


def _runs(rows):
    runs, current = [], []
    for row in rows:
        if row["supported"]:
            current.append(row["index"])
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def parse_analyzer(text):
    """Per-op GPU warnings in `tf.lite.experimental.Analyzer` output.

    Args:
        text: What `Analyzer.analyze(..., gpu_compatibility=True)` printed.

    Returns:
        A dict from op index (first subgraph) to the warning's message.
        Warnings follow the op line they are about; the subgraph summary
        warning is skipped.
    """
    warnings, last_op, subgraph = {}, None, -1
    for line in text.splitlines():
        if line.startswith("Subgraph#"):
            subgraph += 1
            last_op = None
            continue
        match = _OP_LINE.match(line)
        if match:
            last_op = int(match.group(1))
            continue
        if _WARNING in line and last_op is not None and subgraph == 0:
            message = line.split(_WARNING, 1)[1].strip()
            if not message.startswith("Subgraph#"):
                warnings[last_op] = message
    return warnings


def _analyzer_warnings(content):
    try:
        import tensorflow as tf
    except ImportError:
        return None
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            tf.lite.experimental.Analyzer.analyze(
                model_content=content, gpu_compatibility=True
            )
    except Exception:  # the analyzer raises many types
        return None
    return parse_analyzer(out.getvalue())


def _validate_partitions(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            "Invalid value for argument `max_delegated_partitions`. "
            f"Expected an int >= 1. Received: {value!r}"
        )


def gpu_report(tflite, layer_names=None, max_delegated_partitions=1):
    """Checks which ops of a TFLite model the GPU delegate would run.

    Each op is checked against the GPU delegate's supported ops and the
    conditions it puts on them (fused activations, cast types, slice masks
    and ranks, constant reduction axes, padding shapes, softmax beta, ...).
    `tf.lite.experimental.Analyzer` with `gpu_compatibility=True` is run
    too and its per-op warnings, when it prints any, are added (the
    analyzer in the TensorFlow 2.21 and LiteRT 2.3 wheels prints none: it
    calls every model compatible, so the rules are what finds fall-backs
    there). The delegate then takes the largest runs of supported ops, up
    to `max_delegated_partitions` of them; every other op runs on the CPU.
    Runs are counted in execution order, which is exact for chains and an
    approximation for branching graphs.

    Args:
        tflite: The `.tflite` flatbuffer as bytes (e.g. a
            `ConversionResult`), or a path to a `.tflite` file.
        layer_names: Optional Keras layer names, to name ops by layer.
            Defaults to `None`.
        max_delegated_partitions: The delegate option of the same name.
            Defaults to `1`, the delegate's default.

    Returns:
        A `GpuReport`.

    Raises:
        ValueError: If `tflite` is not a TFLite flatbuffer or
            `max_delegated_partitions` is not an int >= 1.

    Example:

    ```python
    report = tfc.lite.gpu_report(tflite, layer_names=[l.name for l in m.layers])
    for index, op, layer, reason in report.unsupported:
        print(index, op, layer, reason)
    ```
    """
    _validate_partitions(max_delegated_partitions)
    content = bytes(load_model_content(tflite))
    model = check_model(content)
    views = op_views(model)
    records = {r.index: r for r in read_ops(content, layer_names)}
    warnings = _analyzer_warnings(content)
    rows = []
    for view in views:
        reason, source = gpu_reason(view), "rules"
        if reason is None and warnings and view.index in warnings:
            reason, source = warnings[view.index], "analyzer"
        record = records.get(view.index)
        rows.append(
            {
                "index": view.index,
                "op": view.name if view.name != "CUSTOM" else view.custom,
                "layer": record.layer if record else None,
                "supported": reason is None,
                "reason": reason or "",
                "source": source if reason else "",
                "device": "cpu",
            }
        )
    runs = sorted(_runs(rows), key=len, reverse=True)
    for run in runs[:max_delegated_partitions]:
        for index in run:
            rows[index]["device"] = "gpu"
    # A fixed batch folds the shape ops a dynamic one leaves in.
    dynamic = _dynamic_batch(model)
    for row in rows:
        if row["supported"] and row["device"] == "cpu":
            row["reason"] = "supported, but outside the delegated partition(s)"
        elif dynamic and row["op"] in _SHAPE_OPS and not row["supported"]:
            row["reason"] += f"; {FIXED_BATCH_FIX}"
    if warnings is None:
        analyzer = "unavailable"
    else:
        analyzer = "checked" if warnings else "no warnings"
    return GpuReport(
        ops=rows,
        max_delegated_partitions=max_delegated_partitions,
        analyzer=analyzer,
    )
