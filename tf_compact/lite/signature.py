"""Naming the serving signature of a `.tflite` model.

Android apps run a model through its signature
(`Interpreter.runSignature(inputs, outputs, "serving_default")`) and find
tensors by the names it holds. `set_signature` renames the signature key
and its input and output names in the flatbuffer; the graph is untouched.
"""

import re

import flatbuffers

from tf_compact.lite.flatbuffer import check_model
from tf_compact.lite.flatbuffer import load_model_content
from tf_compact.lite.input_order import rename_input_order

_IDENTIFIER = b"TFL3"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _natural_key(name):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def unpack_model(content):
    """The model as the schema's object API (`ModelT`)."""
    return check_model(content)


def pack_model(model):
    """Serializes a `ModelT` back to `.tflite` bytes."""
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_IDENTIFIER)
    return bytes(builder.Output())


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _validate_name(argument, name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected names made "
            "of letters, digits, `_`, `.` or `-`, not starting with a digit. "
            f"Received: {name!r}"
        )


def check_keys(argument, keys, names):
    """Raises if a dict argument has keys that are not signature names."""
    unknown = sorted(set(keys) - set(names))
    if unknown:
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected keys among "
            f"the signature's names {names}. Received unknown keys {unknown}"
        )


def _mapping(argument, names, current):
    """Old-to-new name dict from a list (in `current` order) or a dict."""
    if names is None:
        return {}
    if isinstance(names, dict):
        check_keys(argument, names, current)
        mapping = dict(names)
    elif isinstance(names, (list, tuple)):
        if len(names) != len(current):
            raise ValueError(
                f"Invalid value for argument `{argument}`. Expected "
                f"{len(current)} names (the signature has {current}). "
                f"Received: {argument}={list(names)!r}"
            )
        mapping = dict(zip(current, names))
    else:
        raise TypeError(
            f"Invalid type for argument `{argument}`. Expected a list of "
            "names or a dict from current to new name. Received: "
            f"type={type(names).__name__}"
        )
    for new in mapping.values():
        _validate_name(argument, new)
    final = [mapping.get(n, n) for n in current]
    if len(set(final)) != len(final):
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected distinct "
            f"names. Received names that give {final}"
        )
    return mapping


def check_names(model, signature_key, input_names, output_names):
    """Checks the names `convert` is asked to give, before converting.

    Names given as lists must be valid, distinct, and one per input or
    output of the Keras `model`; names given as dicts are checked when the
    converted signature's names are known.

    Raises:
        ValueError: For an invalid name or a list of the wrong length.
    """
    _validate_name("signature_key", signature_key)
    for argument, names, tensors in (
        ("input_names", input_names, getattr(model, "inputs", None)),
        ("output_names", output_names, getattr(model, "outputs", None)),
    ):
        if not isinstance(names, (list, tuple)) or not tensors:
            continue
        if len(names) != len(tensors):
            kind = argument.split("_")[0]
            raise ValueError(
                f"Invalid value for argument `{argument}`. Expected "
                f"{len(tensors)} names, one per {kind} of the model. "
                f"Received: {argument}={list(names)!r}"
            )
        for name in names:
            _validate_name(argument, name)
        if len(set(names)) != len(names):
            raise ValueError(
                f"Invalid value for argument `{argument}`. Expected "
                f"distinct names. Received: {argument}={list(names)!r}"
            )


def _signature_def(model):
    defs = list(model.signatureDefs or [])
    if len(defs) != 1:
        raise ValueError(
            "Invalid value for argument `tflite`. Expected a model with "
            f"exactly one signature to rename. Received: {len(defs)} "
            "signatures"
        )
    return defs[0]


def signature_names(tflite):
    """The signature key and input/output names of a model.

    Args:
        tflite: The `.tflite` model as bytes, or the path of a file (a
            `str` or `os.PathLike`).

    Returns:
        A dict `{signature_key: {"inputs": [...], "outputs": [...]}}`, names
        sorted with numbers compared as numbers (`output_2` before
        `output_10`).

    Example:

    ```python
    names = tfc.lite.signature_names(tflite)
    # {"serving_default": {"inputs": ["image"], "outputs": ["output_0"]}}
    ```
    """
    model = unpack_model(load_model_content(tflite))
    return {
        _text(sig.signatureKey): {
            "inputs": sorted(
                (_text(t.name) for t in sig.inputs or []), key=_natural_key
            ),
            "outputs": sorted(
                (_text(t.name) for t in sig.outputs or []), key=_natural_key
            ),
        }
        for sig in model.signatureDefs or []
    }


def set_signature(
    tflite, signature_key="serving_default", input_names=None, output_names=None
):
    """Renames the signature key, inputs and outputs of a `.tflite` model.

    Only names change: the graph, the tensors and their order are kept
    (the Keras input order that `tfc.lite.convert` records is kept too,
    under the new names).
    Bytes appended after the flatbuffer (e.g. packed metadata files) are
    dropped: name the signature before `add_metadata`.

    Args:
        tflite: The `.tflite` model, with one signature, as bytes or the
            path of a file (a `str` or `os.PathLike`; the file is not
            changed).
        signature_key: New key of the signature. Defaults to
            `"serving_default"`.
        input_names: New input names: a list in the signature's order (see
            `signature_names`; for models converted by `tfc.lite.convert`,
            pass the names to `convert`, which takes them in Keras order),
            or a dict from current to new name. `None` keeps them.
            Defaults to `None`.
        output_names: New output names, like `input_names`. Defaults to
            `None`.

    Returns:
        The renamed model as bytes.

    Raises:
        ValueError: If the model does not have exactly one signature, or
            the names do not match its inputs/outputs, repeat, or are not
            identifiers.
        TypeError: If `tflite` is neither bytes nor a path, or the names
            are neither a list nor a dict.

    Example:

    ```python
    tflite = tfc.lite.set_signature(
        tflite, input_names=["image"], output_names=["probabilities"]
    )
    ```
    """
    _validate_name("signature_key", signature_key)
    model = unpack_model(load_model_content(tflite))
    sig = _signature_def(model)
    for argument, names, maps in (
        ("input_names", input_names, sig.inputs or []),
        ("output_names", output_names, sig.outputs or []),
    ):
        current = sorted((_text(t.name) for t in maps), key=_natural_key)
        mapping = _mapping(argument, names, current)
        for tensor_map in maps:
            old = _text(tensor_map.name)
            tensor_map.name = mapping.get(old, old)
        if argument == "input_names":
            rename_input_order(model, mapping)
    sig.signatureKey = signature_key
    return pack_model(model)
