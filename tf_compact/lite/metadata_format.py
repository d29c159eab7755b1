"""The LiteRT metadata flatbuffer: schema slots, writing and reading.

Field slots and enum values follow `metadata_schema.fbs` of TFLite Support
(the published schema of LiteRT model metadata). Only the tables
tf_compact writes are described: `ModelMetadata`, `SubGraphMetadata`,
`TensorMetadata`, `Content` with `ImageProperties`/`FeatureProperties`,
`ProcessUnit` with `NormalizationOptions`, and `AssociatedFile`.
"""

import flatbuffers
from flatbuffers import number_types
from flatbuffers.table import Table

METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
# The oldest metadata parser that reads every field written here.
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE = "labels.txt"

# Schema enums (metadata_schema.fbs).
TENSOR_AXIS_LABELS = 2
COLOR_SPACES = {0: "unknown", 1: "rgb", 2: "grayscale"}
FEATURE_PROPERTIES = 1
IMAGE_PROPERTIES = 2
NORMALIZATION_OPTIONS = 1

# Field slots of the schema's tables.
MODEL = {"name": 0, "description": 1, "version": 2, "subgraphs": 3}
MODEL.update({"author": 4, "license": 5, "min_parser_version": 7})
SUBGRAPH = {"name": 0, "inputs": 2, "outputs": 3}
TENSOR = {"name": 0, "description": 1, "content": 3, "process_units": 4}
TENSOR["associated_files"] = 6
CONTENT = {"type": 0, "properties": 1}
IMAGE = {"color_space": 0}
PROCESS_UNIT = {"type": 0, "options": 1}
NORMALIZATION = {"mean": 0, "std": 1}
FILE = {"name": 0, "description": 1, "type": 2}


def end_table(builder, fields):
    """Ends a table from `(slot, kind, value)`; `None` values are left out.

    The builder must not be building anything else: strings, vectors and
    sub-tables are created before the table starts.
    """
    fields = [f for f in fields if f[2] is not None]
    builder.StartObject(1 + max((slot for slot, _, _ in fields), default=0))
    for slot, kind, value in fields:
        if kind == "offset":
            builder.PrependUOffsetTRelativeSlot(slot, value, 0)
        else:  # a ubyte/byte enum, written even when it is the default
            builder.PrependUint8Slot(slot, value, value + 1)
    return builder.EndObject()


def offset_vector(builder, offsets):
    if offsets is None:
        return None
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def float_vector(builder, values):
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(float(value))
    return builder.EndVector()


def string_offset(builder, text):
    return None if text is None else builder.CreateString(text)


def tensor_entry(builder, spec):
    """One `TensorMetadata` table from a plain dict `spec`."""
    name = string_offset(builder, spec["name"])
    description = string_offset(builder, spec.get("description"))
    if spec["kind"] == "image":
        color = {"rgb": 1, "grayscale": 2}.get(spec["color_space"], 0)
        props = end_table(builder, [(IMAGE["color_space"], "enum", color)])
        props_type = IMAGE_PROPERTIES
    else:
        props = end_table(builder, [])
        props_type = FEATURE_PROPERTIES
    content = end_table(
        builder,
        [
            (CONTENT["type"], "enum", props_type),
            (CONTENT["properties"], "offset", props),
        ],
    )
    units = None
    if spec.get("mean") is not None:
        mean = float_vector(builder, spec["mean"])
        std = float_vector(builder, spec["std"])
        options = end_table(
            builder,
            [
                (NORMALIZATION["mean"], "offset", mean),
                (NORMALIZATION["std"], "offset", std),
            ],
        )
        unit = end_table(
            builder,
            [
                (PROCESS_UNIT["type"], "enum", NORMALIZATION_OPTIONS),
                (PROCESS_UNIT["options"], "offset", options),
            ],
        )
        units = offset_vector(builder, [unit])
    files = None
    if spec.get("label_file") is not None:
        file_name = string_offset(builder, spec["label_file"])
        file_description = string_offset(
            builder, "Labels of the output classes."
        )
        entry = end_table(
            builder,
            [
                (FILE["name"], "offset", file_name),
                (FILE["description"], "offset", file_description),
                (FILE["type"], "enum", TENSOR_AXIS_LABELS),
            ],
        )
        files = offset_vector(builder, [entry])
    return end_table(
        builder,
        [
            (TENSOR["name"], "offset", name),
            (TENSOR["description"], "offset", description),
            (TENSOR["content"], "offset", content),
            (TENSOR["process_units"], "offset", units),
            (TENSOR["associated_files"], "offset", files),
        ],
    )


def metadata_flatbuffer(info, inputs, outputs):
    builder = flatbuffers.Builder(1024)
    input_entries = [tensor_entry(builder, s) for s in inputs]
    output_entries = [tensor_entry(builder, s) for s in outputs]
    input_vector = offset_vector(builder, input_entries)
    output_vector = offset_vector(builder, output_entries)
    subgraph = end_table(
        builder,
        [
            (SUBGRAPH["inputs"], "offset", input_vector),
            (SUBGRAPH["outputs"], "offset", output_vector),
        ],
    )
    subgraphs = offset_vector(builder, [subgraph])
    strings = {k: string_offset(builder, v) for k, v in info.items()}
    strings["subgraphs"] = subgraphs
    root = end_table(
        builder, [(slot, "offset", strings[k]) for k, slot in MODEL.items()]
    )
    builder.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def slot_offset(tab, slot):
    return tab.Offset(4 + 2 * slot)


def get_string(tab, slot):
    offset = slot_offset(tab, slot)
    return tab.String(offset + tab.Pos).decode("utf-8") if offset else None


def get_table(tab, slot):
    offset = slot_offset(tab, slot)
    if not offset:
        return None
    return Table(tab.Bytes, tab.Indirect(offset + tab.Pos))


def get_tables(tab, slot):
    offset = slot_offset(tab, slot)
    if not offset:
        return []
    start = tab.Vector(offset)
    return [
        Table(tab.Bytes, tab.Indirect(start + 4 * i))
        for i in range(tab.VectorLen(offset))
    ]


def get_floats(tab, slot):
    offset = slot_offset(tab, slot)
    if not offset:
        return None
    values = tab.GetVectorAsNumpy(number_types.Float32Flags, offset)
    return [float(v) for v in values]


def get_enum(tab, slot):
    offset = slot_offset(tab, slot)
    if not offset:
        return 0
    return tab.Get(number_types.Uint8Flags, offset + tab.Pos)
