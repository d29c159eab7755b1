"""Finding a source for a dataset: tensorflow-datasets, then local files.

tensorflow-datasets is imported lazily and only when prepared data exists
or a download was asked for: offline, `tfds.load` retries for minutes
before failing, so a download is never attempted by default.
"""

import os

from tf_compact.data.errors import DatasetNotFoundError
from tf_compact.data.errors import SourceUnavailable

DOWNLOAD_ENV = "TF_COMPACT_DOWNLOAD"
_TRUE = ("1", "true", "yes", "on")


def download_allowed(download, source):
    """Decides whether a tfds download may be attempted.

    Args:
        download: The user's `download` argument (`None`, `True`, `False`).
        source: The user's `source` argument.

    Returns:
        `download` when it is a bool; otherwise `True` when `source` is
        `"tfds"` or the `TF_COMPACT_DOWNLOAD` environment variable is set
        to a true value, else `False`.
    """
    if download is not None:
        if not isinstance(download, bool):
            raise TypeError(
                "Invalid type for argument `download`. Expected a bool or "
                f"None. Received: download={download!r}"
            )
        return download
    if source == "tfds":
        return True
    return os.environ.get(DOWNLOAD_ENV, "").strip().lower() in _TRUE


def tfds_root(data_dir):
    """Returns the tfds data directory that would be used for `data_dir`."""
    if data_dir:
        return os.fspath(data_dir)
    env = os.environ.get("TFDS_DATA_DIR")
    return env or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except Exception as e:  # ImportError, or a broken optional dependency
        raise SourceUnavailable(
            f"tensorflow_datasets cannot be imported ({type(e).__name__}: {e})"
        ) from e
    return tfds


def load_tfds(name, data_dir, download):
    """Loads a tfds dataset as numpy arrays, without network by default.

    Args:
        name: The tfds dataset name, e.g. `"fashion_mnist"`.
        data_dir: The tfds data directory, or `None` for the default.
        download: Whether `download_and_prepare` may be called.

    Returns:
        `(splits, class_names, source_text)`.

    Raises:
        SourceUnavailable: If no prepared data exists and downloading is
            off, or if the download fails.
    """
    root = tfds_root(data_dir)
    dataset_dir = os.path.join(root, name)
    if not download and not os.path.isdir(dataset_dir):
        raise SourceUnavailable(
            f"no prepared data in {dataset_dir} (downloads are off; pass "
            f"download=True or source='tfds', or set {DOWNLOAD_ENV}=1)"
        )
    tfds = _import_tfds()
    builder = tfds.builder(name, data_dir=root)
    if not builder.is_prepared():
        if not download:
            raise SourceUnavailable(
                f"{builder.data_dir} holds no prepared version (downloads "
                f"are off; pass download=True or source='tfds')"
            )
        try:
            builder.download_and_prepare()
        except Exception as e:
            raise SourceUnavailable(
                f"download failed ({type(e).__name__}: {e})"
            ) from e
    splits = {}
    for split in ("train", "test"):
        x, y = tfds.as_numpy(
            builder.as_dataset(split=split, batch_size=-1, as_supervised=True)
        )
        splits[f"x_{split}"], splits[f"y_{split}"] = x, y
    class_names = builder.info.features["label"].names
    return splits, class_names, f"tensorflow-datasets in {builder.data_dir}"


def resolve(dataset, candidates, source, hint=None):
    """Tries the candidate sources in order and returns the first result.

    Args:
        dataset: Dataset name, for messages.
        candidates: List of `(key, label, thunk)`; `thunk()` returns the
            loaded data or raises `SourceUnavailable`.
        source: `"auto"` to try all in order, or one candidate key.
        hint: Advice added to the error when nothing works. Defaults to
            `None`.

    Returns:
        What the first successful thunk returned.

    Raises:
        ValueError: If `source` is not `"auto"` or a candidate key.
        DatasetNotFoundError: If every candidate failed.
    """
    keys = [key for key, _, _ in candidates]
    if source != "auto" and source not in keys:
        allowed = ", ".join(repr(k) for k in ["auto", *keys])
        raise ValueError(
            f"Invalid value for argument `source` of dataset `{dataset}`. "
            f"Expected one of {allowed}. Received: source={source!r}"
        )
    attempts = []
    for key, label, thunk in candidates:
        if source not in ("auto", key):
            continue
        try:
            return thunk()
        except SourceUnavailable as e:
            attempts.append((f"{label} [source={key!r}]", str(e)))
    raise DatasetNotFoundError(dataset, attempts, hint)
