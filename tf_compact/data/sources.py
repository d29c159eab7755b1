"""Finding a source for a dataset: tensorflow-datasets, then local files.

tensorflow-datasets is an optional dependency (`pip install
tf-compact[tfds]`), imported lazily in `_import_tfds` only, and for the
built-in datasets only when prepared data exists or a download was asked
for: offline, `tfds.load` retries for minutes before failing, so a
download is never attempted by default, and one asked for is refused at
once when the download host cannot be reached.
"""

import os
import socket

from tf_compact.data.errors import DatasetNotFoundError
from tf_compact.data.errors import SourceUnavailable

DOWNLOAD_ENV = "TF_COMPACT_DOWNLOAD"
#: Where tensorflow-datasets downloads from; reached (5 s at most) before
#: a download, since tfds retries an unreachable host for minutes.
DOWNLOAD_HOST = "storage.googleapis.com"
_PROXY_ENV = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)
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
        return os.path.expanduser(os.fspath(data_dir))
    env = os.environ.get("TFDS_DATA_DIR")
    return env or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


INSTALL_HINT = "pip install tf-compact[tfds]"
TEST_FRACTION = 0.2


def _import_tfds():
    """Imports tensorflow-datasets: the only place the library does so.

    Raises:
        ImportError: If it is not installed (or fails to import), naming
            the extra that installs it.
    """
    try:
        import tensorflow_datasets as tfds
    except Exception as e:  # ImportError, or a broken optional dependency
        raise ImportError(
            "tensorflow-datasets is needed to load this dataset but cannot "
            f"be imported ({type(e).__name__}: {e}). Install it with "
            f"`{INSTALL_HINT}`."
        ) from e
    return tfds


def _builder(tfds, name, root):
    try:
        return tfds.builder(name, data_dir=root)
    except ValueError as e:  # tfds.core.registered.DatasetNotFoundError
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ValueError(
            "Invalid value for argument `name`. Expected a built-in dataset "
            "or a tensorflow-datasets name (`tfds.list_builders()`). "
            f"Received: name={name!r} ({reason})"
        ) from e


def _check_online(name, builder):
    """Refuses a download at once when the download host cannot be
    reached (behind a proxy, tfds is left to try)."""
    if any(os.environ.get(key) for key in _PROXY_ENV):
        return
    try:
        socket.create_connection((DOWNLOAD_HOST, 443), timeout=5).close()
    except OSError as e:
        raise SourceUnavailable(
            f"{name!r} is not prepared in {builder.data_dir} and "
            f"{DOWNLOAD_HOST} cannot be reached to download it ({e})"
        ) from e


def _label_names(info, label_key):
    feature = info.features[label_key]
    names = getattr(feature, "names", None)
    if names:
        return list(names)
    return [str(i) for i in range(int(getattr(feature, "num_classes", 0)))]


def _count(ds, info, split):
    n = int(ds.cardinality())
    if n >= 0:
        return n
    return int(info.splits[split].num_examples)


def load_tfds(name, data_dir, download, known=True):
    """Opens a tfds dataset as streamed `tf.data` splits.

    Nothing is read into memory: the returned datasets read the prepared
    records while iterated. Without a `test` split, the `validation`
    split, else the last fifth of `train`, is the test set.

    Args:
        name: The tfds dataset name, e.g. `"fashion_mnist"`.
        data_dir: The tfds data directory, or `None` for the default.
        download: Whether `download_and_prepare` may be called.
        known: `True` for the built-in loaders, which fall back to other
            sources: then tensorflow-datasets is not imported at all when
            the dataset folder is missing and downloads are off, and an
            import failure is a `SourceUnavailable`. `False` for any other
            name: the import failure is raised. Defaults to `True`.

    Returns:
        `(streams, class_names, source_text)`; `streams` maps `"train"`
        and `"test"` to `(dataset, count)`, each dataset yielding
        unbatched `(features, label)` pairs.

    Raises:
        SourceUnavailable: If no prepared data exists and downloading is
            off, or if the download fails.
        ImportError: If tensorflow-datasets is missing and `known` is
            `False`.
        ValueError: If `name` is no tfds dataset or has no supervised
            `(features, label)` keys.
    """
    root = tfds_root(data_dir)
    dataset_dir = os.path.join(root, name.split("/")[0].split(":")[0])
    if known and not download and not os.path.isdir(dataset_dir):
        raise SourceUnavailable(
            f"no prepared data in {dataset_dir} (downloads are off; pass "
            f"download=True or source='tfds', or set {DOWNLOAD_ENV}=1)"
        )
    try:
        tfds = _import_tfds()
    except ImportError as e:
        if known:
            raise SourceUnavailable(str(e)) from e
        raise
    builder = _builder(tfds, name, root)
    keys = builder.info.supervised_keys
    if not keys or len(keys) != 2:
        raise ValueError(
            f"Invalid value for argument `name`. Expected a dataset with "
            f"(features, label) supervised keys. Received: name={name!r} "
            f"(supervised_keys={keys!r})"
        )
    if download and not builder.is_prepared():
        _check_online(name, builder)
    available = list(builder.info.splits)
    test = "test"
    if available and "test" not in available:
        test = "validation" if "validation" in available else None
    try:
        loaded = tfds.load(
            name,
            split=["train"] if test is None else ["train", test],
            as_supervised=True,
            download=download,
            data_dir=root,
            shuffle_files=False,
        )
    except AssertionError as e:  # tfds: "could not find data in ..."
        raise SourceUnavailable(
            f"{builder.data_dir} holds no prepared version (downloads are "
            f"off; pass download=True or source='tfds', or set "
            f"{DOWNLOAD_ENV}=1)"
        ) from e
    except Exception as e:
        raise SourceUnavailable(
            f"tfds.load failed ({type(e).__name__}: {e})"
        ) from e
    info = builder.info
    train = (loaded[0], _count(loaded[0], info, "train"))
    if test is None:
        train, cut = _cut(*train, TEST_FRACTION)
        streams = {"train": train, "test": cut}
    else:
        streams = {
            "train": train,
            "test": (loaded[1], _count(loaded[1], info, test)),
        }
    names = _label_names(info, keys[1])
    return streams, names, f"tensorflow-datasets in {builder.data_dir}"


def _cut(ds, count, fraction):
    cut = int(round(count * fraction))
    return (ds.take(count - cut), count - cut), (ds.skip(count - cut), cut)


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
