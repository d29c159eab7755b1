"""CIFAR-10 and CIFAR-100: tensorflow-datasets data or the python batches.

Both loaders follow `tf_compact.data.loaders`: tensorflow-datasets
prepared data first (downloading only when asked), then the extracted
"python version" folder given as `data_dir`.
"""

import os

from tf_compact.data import readers
from tf_compact.data import sources
from tf_compact.data.errors import SourceUnavailable
from tf_compact.data.loaders import load_image_dataset
from tf_compact.data.loaders import tfds_source

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def _cifar(variant, data_dir):
    def thunk():
        if data_dir is None:
            raise SourceUnavailable("no `data_dir` given")
        splits, names, _ = readers.load_cifar_directory(
            os.path.expanduser(os.fspath(data_dir)), variant
        )
        return splits, names, f"CIFAR-{variant} python batches in {data_dir}"

    return thunk


def _load_cifar(variant, kw):
    name = f"cifar{variant}"
    dl = sources.download_allowed(kw["download"], kw["source"])
    candidates = [
        ("tfds", "tensorflow-datasets", tfds_source(name, kw["data_dir"], dl)),
        (
            "pickle",
            "CIFAR python batches in data_dir",
            _cifar(variant, kw["data_dir"]),
        ),
    ]
    hint = (
        f"Pass `data_dir=` the extracted CIFAR-{variant} 'python version' "
        "folder, or allow a download with `download=True`."
    )
    if variant == 10:
        default = CIFAR10_CLASSES
    else:
        default = [f"class_{i}" for i in range(100)]
    return load_image_dataset(name, candidates, default, hint, kw)


def cifar10(
    batch_size=128,
    source="auto",
    data_dir=None,
    validation_split=0.0,
    limit=None,
    seed=0,
    shuffle_buffer=None,
    download=None,
):
    """Loads CIFAR-10 (50k train, 10k test, 32x32x3, 10 classes).

    Sources, in order: tensorflow-datasets prepared data (`"tfds"`), the
    CIFAR-10 python batches (`data_batch_1..5`, `test_batch`) in `data_dir`
    (`"pickle"`). The pickles are unpickled: use only files you trust.

    Args:
        batch_size: Examples per batch. Defaults to `128`.
        source: `"auto"`, `"tfds"` or `"pickle"`. Defaults to `"auto"`.
        data_dir: A tfds data directory, or the python-batches folder.
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
    bundle = tf_compact.data.cifar10(data_dir="cifar-10-batches-py")
    ```
    """
    return _load_cifar(10, locals())


def cifar100(
    batch_size=128,
    source="auto",
    data_dir=None,
    validation_split=0.0,
    limit=None,
    seed=0,
    shuffle_buffer=None,
    download=None,
):
    """Loads CIFAR-100 with its 100 fine labels (32x32x3).

    Sources, in order: tensorflow-datasets prepared data (`"tfds"`), the
    CIFAR-100 python files (`train`, `test`, `meta`) in `data_dir`
    (`"pickle"`). The pickles are unpickled: use only files you trust.

    Args:
        batch_size: Examples per batch. Defaults to `128`.
        source: `"auto"`, `"tfds"` or `"pickle"`. Defaults to `"auto"`.
        data_dir: A tfds data directory, or the `cifar-100-python` folder.
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
    bundle = tf_compact.data.cifar100(data_dir="cifar-100-python")
    ```
    """
    return _load_cifar(100, locals())
