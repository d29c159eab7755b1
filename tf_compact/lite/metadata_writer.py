"""Writing LiteRT metadata into a `.tflite` model: the labels of its outputs
and the normalization of its inputs, named by the model's signature, in the
format that `tf_compact.lite.metadata` describes and reads back."""

import io
import os
import zipfile

import numpy as np

from tf_compact.lite.flatbuffer import load_model_content
from tf_compact.lite.flatbuffer import store_metadata
from tf_compact.lite.metadata import as_text
from tf_compact.lite.metadata import split_archive
from tf_compact.lite.metadata_format import LABELS_FILE
from tf_compact.lite.metadata_format import METADATA_NAME
from tf_compact.lite.metadata_format import MIN_PARSER_VERSION
from tf_compact.lite.metadata_format import metadata_flatbuffer
from tf_compact.lite.signature import check_keys
from tf_compact.lite.signature import pack_model
from tf_compact.lite.signature import unpack_model


def _validate_text(name, value):
    if value is not None and not isinstance(value, str):
        raise TypeError(
            f"Invalid type for argument `{name}`. Expected a string or "
            f"None. Received: type={type(value).__name__}"
        )


def read_labels(labels):
    """Labels from a list of strings or a text file (one per line)."""
    if isinstance(labels, (str, os.PathLike)):
        with open(labels, encoding="utf-8") as f:
            found = [line.rstrip("\r\n") for line in f]
        while found and not found[-1]:
            found.pop()
        return found, os.path.basename(os.fspath(labels))
    if isinstance(labels, (list, tuple)) and all(
        isinstance(x, str) and "\n" not in x for x in labels
    ):
        return list(labels), LABELS_FILE
    raise TypeError(
        "Invalid value for argument `labels`. Expected a list of strings "
        "(one per class, no newlines) or the path of a text file with one "
        f"label per line. Received: {labels!r:.120}"
    )


def check_label_count(labels, width, output, argument="`labels`"):
    """Raises `ValueError` unless there is one label per output unit.

    Args:
        labels: The labels read by `read_labels`.
        width: The size of the output's last dimension, or `None` when it
            is not known (nothing is checked).
        output: Which output, for the message (e.g. `"output 'scores'"`).
        argument: The argument named in the message. Defaults to
            `` `labels` ``.
    """
    if width is None or len(labels) == width:
        return
    raise ValueError(
        f"Invalid value for argument {argument}. Expected one label per unit "
        f"of {output}: {width} labels. Received: {len(labels)} labels "
        f"{labels!r:.120}"
    )


def _stat_values(value):
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size == 0 or not np.all(np.isfinite(array)):
        return None
    return [float(v) for v in array]


def read_normalization(normalization, channels):
    """`(mean, std)` lists from `normalization`, checked against channels."""
    error = ValueError(
        "Invalid value for argument `normalization`. Expected a pair "
        "`(mean, std)` of numbers or of per-channel lists (one value, or "
        f"one per channel: {channels}), finite, std non-zero. Received: "
        f"normalization={normalization!r}"
    )
    if not isinstance(normalization, (tuple, list)) or len(normalization) != 2:
        raise error
    try:
        mean, std = (_stat_values(v) for v in normalization)
    except (TypeError, ValueError):
        raise error from None
    if mean is None or std is None or any(s == 0 for s in std):
        raise error
    for values in (mean, std):
        if len(values) not in (1, channels):
            raise error
    if len(mean) != len(std):  # one value and per-channel ones
        size = max(len(mean), len(std))
        mean, std = (v * size if len(v) == 1 else v for v in (mean, std))
    return mean, std


def _by_name(argument, value, names, single):
    """Spreads a per-tensor argument over tensor names."""
    if value is None:
        return {}
    if isinstance(value, dict):
        check_keys(argument, value, names)
        return dict(value)
    if len(names) != 1:
        raise ValueError(
            f"Invalid value for argument `{argument}`. The model has "
            f"{len(names)} {single}s {sorted(names)}: pass a dict keyed by "
            f"{single} name. Received: {value!r:.120}"
        )
    return {names[0]: value}


def _signature_names(model):
    """Tensor index to signature name, for the first subgraph."""
    names = {}
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex != 0:
            continue
        for tensor_map in list(sig.inputs or []) + list(sig.outputs or []):
            names[int(tensor_map.tensorIndex)] = as_text(tensor_map.name)
    return names


def _tensor_spec(model, index, names):
    tensor = model.subgraphs[0].tensors[index]
    shape = [int(d) for d in tensor.shape]
    name = names.get(index) or as_text(tensor.name)
    image = len(shape) == 4 and shape[-1] in (1, 3)
    signature = tensor.shapeSignature
    dims = shape if signature is None else [int(d) for d in signature]
    last = dims[-1] if dims else -1
    return {
        "name": name,
        "kind": "image" if image else "feature",
        "color_space": ("grayscale" if shape[-1] == 1 else "rgb")
        if image
        else None,
        "channels": shape[-1] if shape else 1,
        "width": last if len(shape) > 1 and last > 0 else None,
    }


def add_metadata(
    tflite,
    labels=None,
    normalization=None,
    name=None,
    description=None,
    version=None,
    author=None,
    license=None,
):
    """Writes LiteRT metadata (labels, normalization) into a `.tflite` model.

    Writes a `ModelMetadata` in the `"TFLITE_METADATA"` buffer, as the
    TFLite Support metadata writer does: one `TensorMetadata` per input
    (image properties for 4-D inputs with 1 or 3 channels, the
    normalization as `NormalizationOptions`) and per output (the labels as
    an associated `TENSOR_AXIS_LABELS` file), named by the model's
    signature. The label files are packed, uncompressed, in a zip archive
    appended to the flatbuffer; interpreters ignore it. Metadata already in
    the file is replaced. The graph is not changed.

    Args:
        tflite: The `.tflite` model as bytes, or the path of a file (a
            `str` or `os.PathLike`; the file is not changed).
        labels: Class names of the output, one per unit of its last
            dimension: a list of strings or the path of a text file with one
            label per line; for a model with several outputs, a dict from
            output name to either. Defaults to `None`.
        normalization: `(mean, std)` the app applies to its input,
            `(x - mean) / std`, each a number or a per-channel list; for a
            model with several inputs, a dict from input name to such a
            pair. Defaults to `None`.
        name: Model name in the metadata. Defaults to `None`: `"model"`.
        description: Model description. Defaults to `None`.
        version: Model version string. Defaults to `None`.
        author: Author. Defaults to `None`.
        license: License. Defaults to `None`.

    Returns:
        The model with its metadata, as bytes.

    Raises:
        ValueError: If `tflite` is not a TFLite model, a dict names no
            input/output, a single value is given for several tensors, the
            number of labels is not the output's width, or the
            normalization is malformed.
        TypeError: If `tflite`, `labels` or a text argument has the wrong
            type.

    Example:

    ```python
    tflite = tfc.lite.add_metadata(
        tflite,
        labels=["t-shirt", "trouser", "pullover"],
        normalization=(127.5, 127.5),
        name="fashion_classifier",
    )
    print(tfc.lite.read_metadata(tflite).outputs[0].labels)
    ```
    """
    info = {
        "name": name or "model",
        "description": description,
        "version": version,
        "author": author,
        "license": license,
        "min_parser_version": MIN_PARSER_VERSION,
    }
    for key, value in info.items():
        _validate_text(key, value)
    flat, packed = split_archive(load_model_content(tflite))
    model = unpack_model(flat)
    names = _signature_names(model)
    subgraph = model.subgraphs[0]
    inputs = [_tensor_spec(model, i, names) for i in subgraph.inputs]
    outputs = [_tensor_spec(model, i, names) for i in subgraph.outputs]
    norms = _by_name(
        "normalization", normalization, [s["name"] for s in inputs], "input"
    )
    label_args = _by_name(
        "labels", labels, [s["name"] for s in outputs], "output"
    )
    files = {}
    for spec in inputs:
        if spec["name"] in norms:
            spec["mean"], spec["std"] = read_normalization(
                norms[spec["name"]], spec["channels"]
            )
    for spec in outputs:
        if spec["name"] in label_args:
            found, file_name = read_labels(label_args[spec["name"]])
            check_label_count(found, spec["width"], f"output {spec['name']!r}")
            if file_name in files:
                file_name = f"{spec['name']}_{file_name}"
            spec["label_file"] = file_name
            files[file_name] = ("\n".join(found) + "\n").encode("utf-8")
    buffer = metadata_flatbuffer(info, inputs, outputs)
    store_metadata(model, METADATA_NAME, buffer)
    return _append_files(pack_model(model), files)


def _append_files(flat, files):
    if not files:
        return flat
    out = io.BytesIO()
    out.write(flat)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as z:
        for file_name, data in files.items():
            z.writestr(file_name, data)
    return out.getvalue()
