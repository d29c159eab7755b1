"""Named dataset loaders: Fashion-MNIST, MNIST, any tensorflow-datasets name.

Each loader tries tensorflow-datasets prepared data first (downloading only
when asked; streamed, not read into memory), then offline sources, and
reports in `bundle.source` which one it used. When nothing works it raises
`DatasetNotFoundError` listing every source it tried and why it failed.
`tfds_dataset` streams any other tensorflow-datasets name. For data read
from tensorflow-datasets, `limit` keeps the first examples of each split
and `validation_split` holds out the last part of the training split
(tfds shuffles the records once when it prepares them).
"""

import os

from tf_compact.data import readers
from tf_compact.data import sources
from tf_compact.data.errors import SourceUnavailable
from tf_compact.data.splits import make_bundle
from tf_compact.data.splits import options_from
from tf_compact.data.streaming import bundle_from_streams
from tf_compact.internal.user_warning import warn

DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_SCALE_UINT8 = 1.0 / 255.0


def _config(loader, options, kw, **extra):
    """The bundle config of a loader call: its options and its sources."""
    data_dir = kw["data_dir"]
    return {
        "loader": loader,
        "kwargs": {
            **options,
            **extra,
            "source": kw["source"],
            "data_dir": None if data_dir is None else os.fspath(data_dir),
            "download": kw["download"],
        },
    }


def _idx(directory, what):
    def thunk():
        if directory is None:
            raise SourceUnavailable("no `data_dir` given")
        path = os.path.expanduser(os.fspath(directory))
        splits, _ = readers.load_idx_directory(path)
        return splits, None, f"{what} IDX files in {directory}"

    return thunk


def tfds_source(name, data_dir, download, known=True):
    return lambda: sources.load_tfds(name, data_dir, download, known)


def load_image_dataset(name, candidates, default_names, hint, kw):
    opts = options_from(kw)
    splits, class_names, source = sources.resolve(
        name, candidates, kw["source"], hint
    )
    fell_back = kw["source"] == "auto" and "(Debian package)" in source
    if kw.get("data_dir") is not None and fell_back:
        warn(
            f"tf_compact.data.{name}: data_dir={kw['data_dir']!r} holds "
            "neither prepared tensorflow-datasets data nor the IDX files; "
            f"loaded {source} instead. Pass source='idx' or source='tfds' "
            "to load from data_dir only."
        )
    config = _config(name, opts, kw)
    names = list(class_names or default_names)
    if names == [str(i) for i in range(len(names))]:  # tfds without names
        names = list(default_names)
    if "train" in splits:  # streamed tensorflow-datasets splits
        return bundle_from_streams(
            splits, names, source, _SCALE_UINT8, opts, config
        )
    return make_bundle(splits, names, source, _SCALE_UINT8, opts, config)


def fashion_mnist(
    batch_size=128,
    source="auto",
    data_dir=None,
    validation_split=0.0,
    limit=None,
    seed=0,
    shuffle_buffer=None,
    download=None,
):
    """Loads Fashion-MNIST (60k train, 10k test, 28x28x1, 10 classes).

    Sources, in order: tensorflow-datasets prepared data (`"tfds"`; a
    download only when `download=True`, `source="tfds"` or the
    `TF_COMPACT_DOWNLOAD` environment variable allow it), IDX files in
    `data_dir` (`"idx"`), the Debian package `dataset-fashion-mnist` in
    `/usr/share/datasets/fashion-mnist/` (`"debian"`).

    Args:
        batch_size: Examples per batch. Defaults to `128`.
        source: `"auto"` to try every source in order, or one of `"tfds"`,
            `"idx"`, `"debian"`. Defaults to `"auto"`.
        data_dir: A tfds data directory, or a folder of the four IDX files.
            Defaults to `None`.
        validation_split: Fraction of the training set held out as
            `bundle.val`, chosen with `seed`. Defaults to `0.0`.
        limit: Keep at most this many random training examples and at most
            this many test examples (for quick runs). Defaults to `None`.
        seed: Seed of the subset, the split and the training shuffle.
            Defaults to `0`.
        shuffle_buffer: Shuffle buffer size; `None` shuffles the whole
            training set. Defaults to `None`.
        download: Allow a tfds download; `None` lets `source` and the
            environment decide. Defaults to `None`.

    Returns:
        A `DatasetBundle` of float32 images in `[0, 1]`, NHWC.

    Raises:
        DatasetNotFoundError: If no source provides the data.
        ValueError: If an argument is invalid.

    Example:

    ```python
    bundle = tf_compact.data.fashion_mnist(limit=1000)
    print(bundle.source, bundle.input_shape, bundle.class_names[0])
    ```
    """
    dl = sources.download_allowed(download, source)
    candidates = [
        (
            "tfds",
            "tensorflow-datasets",
            tfds_source("fashion_mnist", data_dir, dl),
        ),
        ("idx", "IDX files in data_dir", _idx(data_dir, "Fashion-MNIST")),
        (
            "debian",
            "Debian package dataset-fashion-mnist",
            _idx(DEBIAN_FASHION_MNIST_DIR, "Fashion-MNIST (Debian package)"),
        ),
    ]
    hint = (
        "Install the Debian package `dataset-fashion-mnist`, pass "
        "`data_dir=` a folder of the IDX files, allow a download with "
        "`download=True`, or use `tf_compact.data.builtin()`."
    )
    return load_image_dataset(
        "fashion_mnist", candidates, FASHION_MNIST_CLASSES, hint, locals()
    )


def mnist(
    batch_size=128,
    source="auto",
    data_dir=None,
    validation_split=0.0,
    limit=None,
    seed=0,
    shuffle_buffer=None,
    download=None,
):
    """Loads MNIST digits (60k train, 10k test, 28x28x1, 10 classes).

    Sources, in order: tensorflow-datasets prepared data (`"tfds"`), IDX
    files in `data_dir` (`"idx"`). Arguments are those of `fashion_mnist`.

    Args:
        batch_size: Examples per batch. Defaults to `128`.
        source: `"auto"`, `"tfds"` or `"idx"`. Defaults to `"auto"`.
        data_dir: A tfds data directory, or a folder of the four IDX files.
            Defaults to `None`.
        validation_split: Fraction of training data held out. Defaults to
            `0.0`.
        limit: Cap on training and on test examples. Defaults to `None`.
        seed: Seed of subset, split and shuffle. Defaults to `0`.
        shuffle_buffer: Shuffle buffer size, `None` for all. Defaults to
            `None`.
        download: Allow a tfds download. Defaults to `None`.

    Returns:
        A `DatasetBundle` of float32 images in `[0, 1]`, NHWC.

    Raises:
        DatasetNotFoundError: If no source provides the data.

    Example:

    ```python
    bundle = tf_compact.data.mnist(data_dir="~/mnist_idx_files")
    ```
    """
    dl = sources.download_allowed(download, source)
    candidates = [
        ("tfds", "tensorflow-datasets", tfds_source("mnist", data_dir, dl)),
        ("idx", "IDX files in data_dir", _idx(data_dir, "MNIST")),
    ]
    hint = (
        "Pass `data_dir=` a folder holding train-images, train-labels, "
        "t10k-images and t10k-labels IDX files, or allow a download with "
        "`download=True`."
    )
    names = [str(i) for i in range(10)]
    return load_image_dataset("mnist", candidates, names, hint, locals())


def tfds_dataset(
    name,
    batch_size=128,
    source="auto",
    data_dir=None,
    validation_split=0.0,
    limit=None,
    seed=0,
    shuffle_buffer=None,
    download=None,
):
    """Streams any tensorflow-datasets dataset with `(features, label)`.

    The splits are `tfds.load(name, split=..., as_supervised=True)`
    datasets read while iterated, never loaded whole: `train`, and `test`
    (or `validation`, or the last fifth of `train` when the dataset has
    neither). `limit` keeps the first examples of each split and
    `validation_split` holds out the last part of the training split.
    uint8 images are scaled to `[0, 1]`; the training shuffle buffer holds
    at most 10,000 examples unless `shuffle_buffer` says otherwise.

    Offline, no download is attempted unless asked (`download=True`,
    `source="tfds"` or the `TF_COMPACT_DOWNLOAD` environment variable), so
    a missing dataset fails at once. Needs `pip install tf-compact[tfds]`.

    Args:
        name: A tensorflow-datasets name, optionally with config and
            version (`"beans"`, `"mnist_corrupted/shot_noise"`).
        batch_size: Examples per batch. Defaults to `128`.
        source: `"auto"` or `"tfds"`. Defaults to `"auto"`.
        data_dir: The tfds data directory. Defaults to `None` (tfds's).
        validation_split: Fraction of the training split held out as
            `bundle.val`. Defaults to `0.0`.
        limit: Cap on training and on test examples. Defaults to `None`.
        seed: Seed of the training shuffle. Defaults to `0`.
        shuffle_buffer: Shuffle buffer size. Defaults to `None`.
        download: Allow a tfds download. Defaults to `None`.

    Returns:
        A `StreamingBundle` of float32 features and int32 labels.

    Raises:
        ImportError: If tensorflow-datasets is not installed.
        ValueError: If `name` is no tfds dataset or an argument is invalid.
        DatasetNotFoundError: If the data is neither prepared nor
            downloadable.

    Example:

    ```python
    bundle = tf_compact.data.load("beans", download=True, limit=500)
    ```
    """
    kw = locals()
    dl = sources.download_allowed(download, source)
    candidates = [
        ("tfds", "tensorflow-datasets", tfds_source(name, data_dir, dl, False)),
    ]
    hint = (
        f"Prepare `{name}` once where the network is reachable, with "
        f"`tf_compact.data.load({name!r}, download=True)` or "
        f"`tfds build {name}`, then pass that tfds folder as `data_dir=` "
        "(or set TFDS_DATA_DIR)."
    )
    opts = options_from(kw)
    streams, class_names, found = sources.resolve(
        name, candidates, source, hint
    )
    config = _config("tfds", opts, kw, name=name)
    spec = streams["train"][0].element_spec[0]
    scale = _SCALE_UINT8 if spec.dtype == "uint8" else None
    if None in tuple(spec.shape):
        raise ValueError(
            f"Invalid value for argument `name`: `{name}` has features of "
            f"varying shape {tuple(spec.shape)}, which cannot be batched. "
            f"Received: name={name!r}"
        )
    return bundle_from_streams(streams, class_names, found, scale, opts, config)
