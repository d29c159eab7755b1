"""What the student's `.tflite` files tell an Android app: labels and the
input normalization (`Export(labels=..., normalization=...)`)."""

from tf_compact.data.stored_values import StoredValuesBundle
from tf_compact.data.stored_values import integer_inputs
from tf_compact.lite.android import single_output_width
from tf_compact.lite.metadata_writer import check_label_count


def app_metadata(export, data, teacher):
    """`{"labels": [...] or None, "normalization": [mean, std] or None}`.

    `"auto"` reads a `DatasetBundle` (`class_names`, pixel `scale`); other
    data gives none. Labels given by hand must match the width of the
    teacher's single output, checked here before any training.

    Args:
        export: the run's `tfc.methods.Export`.
        data: the `train_data` given to `compress` (a bundle or not).
        teacher: the teacher model.

    Returns:
        The dict above.

    Raises:
        ValueError: for labels given by hand that do not match the output.
    """
    config = export.get_config()
    width = single_output_width(teacher)
    labels = config["labels"]
    if labels == "auto":
        names = getattr(data, "class_names", None)
        labels = list(names) if names and len(names) == width else None
    elif labels is not None and width is None:
        raise ValueError(
            "Invalid value for argument `labels` of `tfc.methods.Export`: "
            "expected a model with a single output. Received "
            f"{len(labels)} labels."
        )
    elif labels is not None:
        check_label_count(
            labels,
            width,
            "the model's output",
            "`labels` of `tfc.methods.Export`",
        )
    normalization = config["normalization"]
    if normalization == "auto":
        normalization = _auto_normalization(data, teacher)
    elif normalization is not None:
        _check_channels(normalization, teacher)
    return {"labels": labels, "normalization": normalization}


def _auto_normalization(data, model):
    """The normalization an app applies to stored pixel values, as `data`
    feeds them to `model`: divided by the bundle's scale, or as they are
    for a float input that rescales them itself (`Rescaling(1 / 255)`
    first); `None` for other data and for integer inputs."""
    scale = getattr(data, "scale", None)
    if scale:
        return [[0.0], [1.0 / scale]]
    if isinstance(data, StoredValuesBundle) and not integer_inputs(model):
        return [[0.0], [1.0]]
    return None


def _check_channels(normalization, model):
    """Per-channel means and stds must match the input's channels."""
    try:
        channels = model.inputs[0].shape[-1] if len(model.inputs) == 1 else None
    except (AttributeError, ValueError):
        channels = None
    for values in normalization:
        if len(values) != 1 and channels and len(values) != channels:
            raise ValueError(
                "Invalid value for argument `normalization` of "
                "`tfc.methods.Export`: expected one value or one per input "
                f"channel ({channels}). Received {len(values)}: "
                f"{normalization}"
            )
