"""The flags of what a `.tflite` file tells an Android app: labels and the
input normalization (LiteRT metadata), shared by `compress` and
`export-tflite`."""

from absl import flags

LABELS = flags.DEFINE_string(
    "labels",
    "auto",
    "Class names written into the student's .tflite files as LiteRT "
    "metadata, which Android apps read: 'auto' (the dataset's class names), "
    "'none', or a text file with one name per line.",
)
NORMALIZATION = flags.DEFINE_string(
    "normalization",
    "auto",
    "Input normalization written into the same metadata, (x - mean) / std: "
    "'auto' (the dataset's pixel scale: 0,255 for images scaled to [0, 1]), "
    "'none', or 'MEAN,STD' (per channel with colons: "
    "'0.5:0.5:0.5,0.2:0.2:0.2').",
)


def app_metadata_settings(labels=None, normalization=None):
    """`{"labels", "normalization"}` as `tfc.methods.Export` takes them.

    Args:
        labels: the `--labels` value. Defaults to the flag's.
        normalization: the `--normalization` value. Defaults to the flag's.

    Returns:
        `"auto"`, `None` or the parsed value, for each.

    Raises:
        ValueError: for a label file that cannot be read or holds no name,
            or a normalization that is not `MEAN,STD`.
    """
    labels = LABELS.value if labels is None else labels
    normalization = (
        NORMALIZATION.value if normalization is None else (normalization)
    )
    return {
        "labels": _labels(labels),
        "normalization": _normalization(normalization),
    }


def _labels(value):
    if value.strip().lower() in ("auto", "none"):
        return None if value.strip().lower() == "none" else "auto"
    try:
        with open(value, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    except OSError as error:
        raise ValueError(
            f"--labels: cannot read the label file {value!r} ({error}); "
            "expected 'auto', 'none' or a text file with one name per line."
        ) from None
    if not names:
        raise ValueError(f"--labels: the label file {value!r} holds no name.")
    return names


def _normalization(value):
    if value.strip().lower() in ("auto", "none"):
        return None if value.strip().lower() == "none" else "auto"
    parts = value.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return [[float(v) for v in part.split(":")] for part in parts]
    except ValueError:
        raise ValueError(
            f"--normalization: expected 'auto', 'none' or 'MEAN,STD' "
            f"(per channel with colons). Received: {value!r}"
        ) from None
