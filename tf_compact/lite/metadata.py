"""LiteRT (TFLite) model metadata: labels and input normalization.

Android's LiteRT Support and Task libraries, and the metadata extractor,
read what a model needs around it from the model file itself: a
`ModelMetadata` flatbuffer (file identifier `M001`, schema
`metadata_schema.fbs` of TFLite Support) in the model buffer named by the
`"TFLITE_METADATA"` entry of `Model.metadata`, and the associated files
(e.g. `labels.txt`) packed in a zip archive appended to the flatbuffer.
This module reads that format with the `flatbuffers` runtime, following
the published schema; `tf_compact.lite.metadata_writer` writes it.
"""

import dataclasses
import io
import os
import zipfile

from flatbuffers import encode
from flatbuffers import packer
from flatbuffers.table import Table

from tf_compact.lite.metadata_format import COLOR_SPACES
from tf_compact.lite.metadata_format import CONTENT
from tf_compact.lite.metadata_format import FILE
from tf_compact.lite.metadata_format import FILE_IDENTIFIER
from tf_compact.lite.metadata_format import IMAGE
from tf_compact.lite.metadata_format import IMAGE_PROPERTIES
from tf_compact.lite.metadata_format import METADATA_NAME
from tf_compact.lite.metadata_format import MODEL
from tf_compact.lite.metadata_format import NORMALIZATION
from tf_compact.lite.metadata_format import NORMALIZATION_OPTIONS
from tf_compact.lite.metadata_format import PROCESS_UNIT
from tf_compact.lite.metadata_format import SUBGRAPH
from tf_compact.lite.metadata_format import TENSOR
from tf_compact.lite.metadata_format import TENSOR_AXIS_LABELS
from tf_compact.lite.metadata_format import get_enum
from tf_compact.lite.metadata_format import get_floats
from tf_compact.lite.metadata_format import get_string
from tf_compact.lite.metadata_format import get_table
from tf_compact.lite.metadata_format import get_tables
from tf_compact.lite.signature import unpack_model


@dataclasses.dataclass
class TensorMetadata:
    """Metadata of one input or output tensor.

    Args:
        name: Tensor name in the metadata (the signature name when written
            by tf_compact).
        description: Free text, or `None`.
        kind: `"image"` or `"feature"`.
        color_space: For images, `"rgb"`, `"grayscale"` or `"unknown"`;
            else `None`.
        mean: Normalization means (per channel or one), or `None`.
        std: Normalization standard deviations, or `None`.
        label_file: Name of the attached `TENSOR_AXIS_LABELS` file, or
            `None`.
        labels: The labels read from that file, or `None`.

    Example:

    ```python
    meta = tfc.lite.read_metadata(tflite)
    print(meta.inputs[0].mean, meta.outputs[0].labels)
    ```
    """

    name: str
    description: str = None
    kind: str = "feature"
    color_space: str = None
    mean: list = None
    std: list = None
    label_file: str = None
    labels: list = None

    def get_config(self):
        """Returns the fields as a JSON-compatible dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        """Creates a `TensorMetadata` from `get_config()` output."""
        return cls(**config)


@dataclasses.dataclass
class ModelMetadata:
    """What `read_metadata` found in a `.tflite` file.

    Args:
        name: Model name.
        description: Model description, or `None`.
        version: Model version, or `None`.
        author: Author, or `None`.
        license: License, or `None`.
        min_parser_version: Oldest metadata parser that reads it.
        inputs: `TensorMetadata` per subgraph input, in subgraph order.
        outputs: `TensorMetadata` per subgraph output, in subgraph order.
        packed_files: Names of the files in the appended zip archive.

    Example:

    ```python
    meta = tfc.lite.read_metadata("model.tflite")
    print(meta.name, meta.outputs[0].labels[:3])
    ```
    """

    name: str
    description: str = None
    version: str = None
    author: str = None
    license: str = None
    min_parser_version: str = None
    inputs: list = dataclasses.field(default_factory=list)
    outputs: list = dataclasses.field(default_factory=list)
    packed_files: list = dataclasses.field(default_factory=list)

    def get_config(self):
        """Returns the fields as a JSON-compatible dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        """Creates a `ModelMetadata` from `get_config()` output."""
        config = dict(config)
        for key in ("inputs", "outputs"):
            config[key] = [
                TensorMetadata.from_config(t) for t in config.get(key, [])
            ]
        return cls(**config)


def as_text(value):
    """`value` as `str` (flatbuffer strings may come as bytes)."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def split_archive(content):
    """The flatbuffer and the files of the zip appended to it."""
    content = bytes(content)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            files = {n: archive.read(n) for n in archive.namelist()}
            start = min(
                (i.header_offset for i in archive.infolist()),
                default=len(content),
            )
        return content[:start], files
    except zipfile.BadZipFile:
        return content, {}


def _read_tensor(tab, files):
    entry = TensorMetadata(
        name=get_string(tab, TENSOR["name"]),
        description=get_string(tab, TENSOR["description"]),
    )
    content = get_table(tab, TENSOR["content"])
    if content is not None:
        kind = get_enum(content, CONTENT["type"])
        props = get_table(content, CONTENT["properties"])
        if kind == IMAGE_PROPERTIES:
            entry.kind = "image"
            color = get_enum(props, IMAGE["color_space"]) if props else 0
            entry.color_space = COLOR_SPACES.get(color, "unknown")
    for unit in get_tables(tab, TENSOR["process_units"]):
        if get_enum(unit, PROCESS_UNIT["type"]) == NORMALIZATION_OPTIONS:
            options = get_table(unit, PROCESS_UNIT["options"])
            entry.mean = get_floats(options, NORMALIZATION["mean"])
            entry.std = get_floats(options, NORMALIZATION["std"])
    for file in get_tables(tab, TENSOR["associated_files"]):
        if get_enum(file, FILE["type"]) != TENSOR_AXIS_LABELS:
            continue
        entry.label_file = get_string(file, FILE["name"])
        data = files.get(entry.label_file)
        if data is not None:
            entry.labels = data.decode("utf-8").splitlines()
    return entry


def metadata_buffer(tflite):
    """The raw `ModelMetadata` flatbuffer of a model, or `None`."""
    flat, _ = split_archive(tflite)
    model = unpack_model(flat)
    for entry in model.metadata or []:
        if as_text(entry.name) == METADATA_NAME:
            data = model.buffers[entry.buffer].data
            return None if data is None else bytes(bytearray(data))
    return None


def read_metadata(tflite):
    """Reads the LiteRT metadata and packed files of a `.tflite` model.

    Args:
        tflite: The `.tflite` model as bytes, or a path to a file.

    Returns:
        A `ModelMetadata`, or `None` if the model carries none.

    Raises:
        ValueError: If `tflite` is not a TFLite model, or its metadata
            buffer is not a `ModelMetadata` (identifier `M001`).

    Example:

    ```python
    meta = tfc.lite.read_metadata("model.tflite")
    print(meta.inputs[0].mean, meta.inputs[0].std)
    print(meta.outputs[0].labels)
    ```
    """
    if isinstance(tflite, (str, os.PathLike)):
        with open(tflite, "rb") as f:
            tflite = f.read()
    _, files = split_archive(tflite)
    data = metadata_buffer(tflite)
    if data is None:
        return None
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ValueError(
            "Invalid value for argument `tflite`. Expected its "
            f"{METADATA_NAME!r} buffer to be a ModelMetadata flatbuffer "
            f"(identifier {FILE_IDENTIFIER!r}). Received: {data[:8]!r}"
        )
    root = Table(data, encode.Get(packer.uoffset, data, 0))
    meta = ModelMetadata(
        name=get_string(root, MODEL["name"]),
        description=get_string(root, MODEL["description"]),
        version=get_string(root, MODEL["version"]),
        author=get_string(root, MODEL["author"]),
        license=get_string(root, MODEL["license"]),
        min_parser_version=get_string(root, MODEL["min_parser_version"]),
        packed_files=sorted(files),
    )
    subgraphs = get_tables(root, MODEL["subgraphs"])
    if subgraphs:
        meta.inputs = [
            _read_tensor(t, files)
            for t in get_tables(subgraphs[0], SUBGRAPH["inputs"])
        ]
        meta.outputs = [
            _read_tensor(t, files)
            for t in get_tables(subgraphs[0], SUBGRAPH["outputs"])
        ]
    return meta
