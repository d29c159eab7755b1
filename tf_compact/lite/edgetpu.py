"""Edge TPU compatibility check of a `.tflite` model.

The supported set is Coral's published list of operations for the Edge TPU
compiler ("TensorFlow models on the Edge TPU", supported operations). An op
maps to the Edge TPU when it is in that set and computes on int8/uint8
tensors. The compiler cuts the graph once: from the first op that does not
map, that op and every op after it run on the CPU. The QUANTIZE of a float
input and the DEQUANTIZE of a float output run on the CPU without cutting
the graph. Models with a dynamic batch size can carry shape ops (SHAPE,
PACK, ...) which the Edge TPU cannot run: give the Keras input a fixed
`batch_size=1` for Edge TPU targets.
"""

import dataclasses

from tf_compact.lite.ops import read_ops
from tf_compact.lite.runtime import load_model_content

EDGETPU_OPS = frozenset(
    {
        "ADD",
        "AVERAGE_POOL_2D",
        "CONCATENATION",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "EXPAND_DIMS",
        "FULLY_CONNECTED",
        "L2_NORMALIZATION",
        "LOGISTIC",
        "LSTM",
        "MAXIMUM",
        "MAX_POOL_2D",
        "MEAN",
        "MINIMUM",
        "MUL",
        "PACK",
        "PAD",
        "PRELU",
        "QUANTIZE",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "RSQRT",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "SPLIT",
        "SQUARED_DIFFERENCE",
        "SQUEEZE",
        "STRIDED_SLICE",
        "SUB",
        "SUM",
        "TANH",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
    }
)


_IO_REASON = "float I/O conversion (runs on CPU, does not cut the graph)"


def _is_io_conversion(record):
    if record.op_name == "QUANTIZE":
        return any(d.startswith("float") for d in record.input_dtypes)
    if record.op_name == "DEQUANTIZE":
        return any(d.startswith("float") for d in record.output_dtypes)
    return False


def _io_indices(records):
    """Positions of the leading QUANTIZE and trailing DEQUANTIZE ops."""
    io = set()
    for i, record in enumerate(records):
        if not (_is_io_conversion(record) and record.op_name == "QUANTIZE"):
            break
        io.add(i)
    for i in range(len(records) - 1, -1, -1):
        record = records[i]
        if not (_is_io_conversion(record) and record.op_name == "DEQUANTIZE"):
            break
        io.add(i)
    return io


def _reason(record):
    if record.op_name not in EDGETPU_OPS:
        return "op not in the Edge TPU supported set"
    if record.is_float:
        return "float tensors (not full int8)"
    return ""


def _placements(records):
    rows, cut = [], None
    io = _io_indices(records)
    for i, record in enumerate(records):
        reason = _IO_REASON if i in io else _reason(record)
        if reason and i not in io and cut is None:
            cut = record.index
        if not reason and cut is not None:
            reason = "after the first unmapped op"
        rows.append(
            {
                "index": record.index,
                "op": record.op_name,
                "layer": record.layer,
                "dtypes": ",".join(sorted(set(record.output_dtypes))),
                "int8": i in io or not record.is_float,
                "device": "cpu" if reason else "edgetpu",
                "reason": reason,
            }
        )
    return rows


@dataclasses.dataclass
class EdgeTpuReport:
    """Which ops of a TFLite model would map to the Edge TPU.

    Args:
        ops: One dict per op in execution order, with keys `index`, `op`,
            `layer`, `dtypes`, `int8` (no float tensors), `device`
            (`"edgetpu"` or `"cpu"`) and `reason` (why it falls back to
            the CPU, empty otherwise).

    Example:

    ```python
    report = tfc.lite.edgetpu_report(tflite)
    print(report.compatible, report.cpu_fallback)
    print(report.table())
    ```
    """

    ops: list

    @property
    def compatible(self):
        """Whether every op is full int8 and in the supported set."""
        return bool(self.ops) and not self.cpu_fallback

    @property
    def full_int8(self):
        """Whether no op but the I/O conversions touches float tensors."""
        return all(row["int8"] for row in self.ops)

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
            if row["device"] == "cpu" and row["reason"] != _IO_REASON
        ]

    @property
    def io_conversions(self):
        """Float-to-int8 input and int8-to-float output ops."""
        return [row["op"] for row in self.ops if row["reason"] == _IO_REASON]

    def table(self):
        """Returns the per-op table as markdown."""
        lines = [
            "| # | op | layer | dtypes | device | reason |",
            "|---|---|---|---|---|---|",
        ]
        for row in self.ops:
            lines.append(
                f"| {row['index']} | {row['op']} | {row['layer'] or ''} | "
                f"{row['dtypes']} | {row['device']} | {row['reason']} |"
            )
        verdict = "compatible" if self.compatible else "not compatible"
        lines.append("")
        lines.append(
            f"Edge TPU: {verdict}; {len(self.cpu_fallback)} of "
            f"{len(self.ops)} ops on CPU."
        )
        return "\n".join(lines)

    def get_config(self):
        """Returns the fields as a JSON-compatible dict."""
        return {"ops": [dict(row) for row in self.ops]}

    @classmethod
    def from_config(cls, config):
        """Creates an `EdgeTpuReport` from `get_config()` output."""
        return cls(ops=[dict(row) for row in config["ops"]])


def edgetpu_report(tflite, layer_names=None):
    """Checks a TFLite model against the Edge TPU's supported ops.

    This is a static check against Coral's published op list and the
    compiler's single-cut rule, not a run of `edgetpu_compiler` (which also
    checks op-specific limits such as tensor ranks and sizes).

    Args:
        tflite: The `.tflite` flatbuffer as bytes (e.g. a
            `ConversionResult`), or a path to a `.tflite` file.
        layer_names: Optional Keras layer names, to name ops by layer.
            Defaults to `None`.

    Returns:
        An `EdgeTpuReport`.

    Raises:
        ValueError: If `tflite` is not a TFLite flatbuffer.

    Example:

    ```python
    tflite = tfc.lite.convert(model, "int8", representative_data=x,
                              inference_io="uint8")
    report = tfc.lite.edgetpu_report(tflite)
    assert report.compatible, report.cpu_fallback
    ```
    """
    records = read_ops(load_model_content(tflite), layer_names)
    return EdgeTpuReport(ops=_placements(records))
