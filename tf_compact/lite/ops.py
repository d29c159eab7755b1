"""Reading the operator table of a `.tflite` model."""

import dataclasses
import re

import numpy as np

from tf_compact.lite.runtime import make_interpreter
from tf_compact.lite.scopes import ScopeResolver

_SCOPE_SUFFIX = re.compile(r"_\d+$")
_QUANT_IO_OPS = ("QUANTIZE", "DEQUANTIZE")
_INTEGER_KINDS = ("int8", "uint8")


@dataclasses.dataclass
class OpRecord:
    """One operator of a TFLite model, in execution order.

    Args:
        index: Position in the execution plan.
        op_name: TFLite builtin name, e.g. `"CONV_2D"`.
        input_dtypes: Dtype names of the op's tensor inputs.
        output_dtypes: Dtype names of the op's outputs.
        layer: Keras layer the op came from, when it can be read from the
            names of its outputs or of its weights, else `None`.

    Example:

    ```python
    for op in tfc.lite.read_ops(tflite):
        print(op.op_name, op.layer, op.is_float)
    ```
    """

    index: int
    op_name: str
    input_dtypes: list
    output_dtypes: list
    layer: str = None

    @property
    def is_float(self):
        """Whether the op computes in floating point."""
        dtypes = self.input_dtypes + self.output_dtypes
        return any(d.startswith("float") for d in dtypes)

    @property
    def is_integer(self):
        """Whether every activation the op reads or writes is int8/uint8."""
        if self.is_float:
            return False
        return any(d in _INTEGER_KINDS for d in self.output_dtypes)

    def get_config(self):
        """Returns the fields as a JSON-compatible dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        """Creates an `OpRecord` from `get_config()` output."""
        return cls(**config)


def _layer_in_path(path):
    parts = path.split("/")
    for part in parts[1:-1]:
        return _SCOPE_SUFFIX.sub("", part)
    return None


def _same_op(path, op_name):
    """Whether the TensorFlow op ending `path` is the TFLite op `op_name`
    (`.../act_1/Tanh` and `TANH`)."""
    word = path.rsplit("/", 1)[-1].split(":")[0]
    return word.lower() == op_name.lower().replace("_", "")


def _layer_from_name(tensor_name, resolver, op_name=""):
    """Reads the layer out of a tensor name such as `model_1/conv_1/Conv`.

    Fused ops join several names with `;`. A name whose op is the TFLite
    op itself (`act_1/Tanh` for `TANH`, when a reshape before it was folded
    into it) wins; otherwise the producing op (e.g. the convolution under a
    fused BN and ReLU) comes last, so the last one that names a layer wins.
    Without layer names, the scope with its `_<n>` export suffix dropped is
    taken as the layer.
    """
    paths = tensor_name.split(";")
    own = [p for p in paths if _same_op(p, op_name)]
    for path in own + list(reversed(paths)):
        if resolver is None:
            layer = _layer_in_path(path)
        else:
            layer = resolver.layer_of(path)
        if layer:
            return layer
    return None


def read_ops(model_content, layer_names=None):
    """Lists the operators of a TFLite model with their dtypes.

    Args:
        model_content: The `.tflite` flatbuffer, as bytes.
        layer_names: Optional collection of Keras layer names; when given,
            only these names are reported as an op's `layer`. Defaults to
            `None`.

    Returns:
        A list of `OpRecord`, in execution order, read without delegates.

    Raises:
        ValueError: If `model_content` is not a TFLite flatbuffer.
        RuntimeUnavailableError: If no TFLite runtime can load it.

    Example:

    ```python
    names = [op.op_name for op in tfc.lite.read_ops(tflite)]
    ```
    """
    interpreter, _ = make_interpreter(model_content, use_xnnpack=False)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    # Weights: tensors no op writes and the model does not take as input.
    produced = {i for op in ops for i in op["outputs"]}
    produced |= {d["index"] for d in interpreter.get_input_details()}

    def sources(op):
        """Output names first, then the op's own weights'."""
        weights = [i for i in op["inputs"] if i >= 0 and i not in produced]
        return [tensors[i]["name"] for i in list(op["outputs"]) + weights]

    resolver = None
    if layer_names is not None:
        paths = [p for op in ops for n in sources(op) for p in n.split(";")]
        resolver = ScopeResolver(paths, list(layer_names))

    def dtypes(indices):
        return [np.dtype(tensors[i]["dtype"]).name for i in indices if i >= 0]

    records = []
    layer_of_tensor = {}
    for op in ops:
        layer = None
        for name in sources(op):
            layer = _layer_from_name(name, resolver, op["op_name"])
            if layer:
                break
        if layer is None and op["op_name"] not in _QUANT_IO_OPS:
            # An op named only by its signature output (the softmax of a
            # Dense head) belongs to the layer of what it reads.
            read = [layer_of_tensor.get(i) for i in op["inputs"]]
            layer = next((name for name in read if name), None)
        for i in op["outputs"]:
            layer_of_tensor[i] = layer
        records.append(
            OpRecord(
                index=int(op["index"]),
                op_name=op["op_name"],
                input_dtypes=dtypes(op["inputs"]),
                output_dtypes=dtypes(op["outputs"]),
                layer=layer,
            )
        )
    return records


def float_compute_ops(records):
    """Returns the ops that compute in float, ignoring I/O (de)quantization.

    Args:
        records: A list of `OpRecord` from `read_ops`.

    Returns:
        The `OpRecord`s, other than `QUANTIZE`/`DEQUANTIZE` and a `CAST`
        of integer data to float (the input conversion of a model that
        takes e.g. `uint8` images: whatever reads its output is checked in
        turn), that read or write float tensors: what a full-int8
        conversion failed to quantize.

    Example:

    ```python
    left = tfc.lite.float_compute_ops(tfc.lite.read_ops(tflite))
    ```
    """
    return [
        r
        for r in records
        if r.is_float
        and r.op_name not in _QUANT_IO_OPS
        and not _integer_to_float_cast(r)
    ]


def _integer_to_float_cast(record):
    return (
        record.op_name == "CAST"
        and bool(record.input_dtypes)
        and all(d.startswith(("int", "uint")) for d in record.input_dtypes)
    )
