"""What `convert(..., target="edgetpu")` changes before and after converting.

The Edge TPU compiler takes only full-integer models whose tensor sizes are
fixed at compile time, and whose activations have at most three dimensions
of size above 1 (the innermost three). A Keras model built on
`keras.Input(shape)` has an unknown batch dimension, which the converter
keeps as `-1` in the `shape_signature` of every activation (and computes
reshape targets with SHAPE/PACK ops at run time). `static_batch_model`
rebuilds the model on batch-1 inputs, so the converter folds those shapes
into constants.
"""

import os

import keras

from tf_compact.internal import keras_compat
from tf_compact.internal.user_warning import warn
from tf_compact.lite.converter_run import PATHS
from tf_compact.lite.edgetpu import edgetpu_report

TARGETS = ("edgetpu",)
EDGETPU_MODES = ("int8", "qat")
EDGETPU_IO = ("int8", "uint8")


def validate_target(target):
    """Raises `ValueError` unless `target` is `None` or in `TARGETS`."""
    if target is not None and target not in TARGETS:
        raise ValueError(
            "Invalid value for argument `target`. Expected `None` or one of "
            f"{TARGETS}. Received: target={target!r}"
        )


def resolve_io(target, mode, inference_io):
    """The model I/O dtype for a target: `inference_io`, or its default.

    Args:
        target: `None` or `"edgetpu"`.
        mode: The conversion mode.
        inference_io: `None` (the default for the target: `"float32"`, or
            `"uint8"` for the Edge TPU) or a dtype name.

    Returns:
        The I/O dtype name.

    Raises:
        ValueError: If `target="edgetpu"` is asked with a mode other than
            `"int8"`/`"qat"`, or with float I/O.

    Example:

    ```python
    resolve_io("edgetpu", "int8", None)  # "uint8"
    ```
    """
    validate_target(target)
    if target is None:
        return "float32" if inference_io is None else inference_io
    if mode not in EDGETPU_MODES:
        raise ValueError(
            "Invalid value for argument `mode`. target='edgetpu' needs a "
            f"full-integer model: one of {EDGETPU_MODES}. Received: "
            f"mode={mode!r}"
        )
    if inference_io is None:
        return "uint8"
    if inference_io not in EDGETPU_IO:
        raise ValueError(
            "Invalid value for argument `inference_io`. target='edgetpu' "
            f"takes integer I/O, one of {EDGETPU_IO}. Received: "
            f"inference_io={inference_io!r}"
        )
    return inference_io


_PIXEL_DTYPES = ("uint8", "int8")


def _input_shapes(model):
    try:
        inputs = list(model.inputs or [])
    except AttributeError:
        inputs = []
    return inputs


def _like_model_input(model, inputs, fixed):
    """The new input tensors `fixed` (one per tensor of `inputs`, in
    `model.inputs` order) in the structure of `model.input`: a dict keyed
    as it is, else a list (one tensor alone)."""
    try:
        structure = model.input
    except (AttributeError, ValueError):  # a Sequential model never called
        structure = None
    if isinstance(structure, dict):
        by_tensor = {id(t): f for t, f in zip(inputs, fixed)}
        return {key: by_tensor[id(t)] for key, t in structure.items()}
    return fixed[0] if len(fixed) == 1 else fixed


def static_batch_model(model):
    """Returns `model` rebuilt on batch-1 inputs (a clone; weights copied).

    A uint8 or int8 input (a model that takes raw pixels and rescales them
    itself) is rebuilt as a float input of the same values: its CAST to
    float does not map to the Edge TPU and would send the whole graph to
    the CPU, while the file's own uint8 input, quantized from the
    calibration data (raw pixels: scale 1), takes the pixels as they are.
    A model whose inputs are already all of batch 1 and float is returned
    as is. The user's model is never changed.

    Args:
        model: A built Functional or Sequential Keras 3 model (inputs a
            tensor, a list or a dict of them), or a `tf_keras` model whose
            inputs have batch size 1.

    Returns:
        A Keras model with static batch-1 inputs, in the structure of
        `model.input` (a dict-input model keeps its keys).

    Raises:
        ValueError: If the model has no symbolic inputs (a subclassed
            model) and so cannot be rebuilt, or if an input has an unknown
            dimension other than the batch.

    Example:

    ```python
    static = static_batch_model(model)
    static.inputs[0].shape  # (1, 28, 28, 1)
    ```
    """
    inputs = _input_shapes(model)
    if not inputs:
        raise ValueError(
            "Invalid value for argument `model`. target='edgetpu' rebuilds "
            "the model on batch-1 inputs (the Edge TPU takes static shapes "
            "only), which needs a Functional or Sequential model. Received: "
            f"the subclassed model {model.name!r} "
            f"({type(model).__name__}); wrap it as `keras.Model(inp, "
            "model(inp))` with `inp = keras.Input(shape, batch_size=1)`."
        )
    shapes = [tuple(t.shape) for t in inputs]
    for tensor, shape in zip(inputs, shapes):
        if any(d is None for d in shape[1:]):
            raise ValueError(
                "Invalid value for argument `model`. The Edge TPU takes "
                "static shapes only: every input dimension but the batch "
                f"needs a size. Received: input {tensor.name!r} of shape "
                f"{shape}"
            )
    pixels = [str(t.dtype) in _PIXEL_DTYPES for t in inputs]
    if all(shape[0] == 1 for shape in shapes) and not any(pixels):
        return model
    if not isinstance(model, keras.Model):
        raise ValueError(
            "Invalid value for argument `model`. target='edgetpu' needs "
            "batch-1 inputs; a `tf_keras` model is not rebuilt. Received: "
            f"input shapes {shapes}; build it on "
            "`tf_keras.Input(shape, batch_size=1)`."
        )
    fixed = [
        keras.Input(
            batch_shape=(1,) + shape[1:],
            name=t.name,
            dtype="float32" if pixel else t.dtype,
        )
        for t, shape, pixel in zip(inputs, shapes, pixels)
    ]
    clone = keras_compat.clone_model(
        model, input_tensors=_like_model_input(model, inputs, fixed)
    )
    clone.set_weights(model.get_weights())
    clone.name = model.name
    return keras_compat.finalize_states(clone)


def attach_report(result, model, compiler="auto"):
    """Checks a converted model for the Edge TPU and attaches the report.

    Sets `result.edgetpu` to the `EdgeTpuReport` (with the compiler's log
    when `edgetpu_compiler` ran, writing the compiled file next to
    `result.output_path` when there is one) and adds its verdict to
    `result.notes`; warns when the file is not compatible and came from a
    fallback conversion path, naming why the first path failed.

    Args:
        result: The `ConversionResult`.
        model: The Keras model that was converted (for layer names).
        compiler: Passed to `edgetpu_report`. Defaults to `"auto"`.

    Returns:
        The `EdgeTpuReport`.
    """
    names = [layer.name for layer in model.layers]
    out_dir = None
    if result.output_path:
        out_dir = os.path.dirname(os.path.abspath(result.output_path))
    report = edgetpu_report(
        result, layer_names=names, compiler=compiler, out_dir=out_dir
    )
    result.edgetpu = report
    fell_back = result.path_used != PATHS[0]
    failed = [n for n in result.notes if n.startswith(f"{PATHS[0]} failed")]
    result.notes.append(report.summary())
    if fell_back and not report.compatible:
        # The fallback path is where a static shape or an op can be lost.
        warn(
            "tfc.lite.convert(target='edgetpu'): the file is not ready for "
            f"the Edge TPU ({report.summary()}), and it comes from the "
            f"'{result.path_used}' path because an earlier one failed: "
            f"{'; '.join(failed)}. Fix that failure first.",
        )
    return report
