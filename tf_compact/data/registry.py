"""`load`: every dataset loader reached by name."""

import os

from tf_compact.data import cifar
from tf_compact.data import loaders
from tf_compact.data import small
from tf_compact.data.folder import from_folder

LOADERS = {
    "fashion_mnist": loaders.fashion_mnist,
    "mnist": loaders.mnist,
    "cifar10": cifar.cifar10,
    "cifar100": cifar.cifar100,
    "digits": small.digits,
    "builtin": small.builtin,
}


def _canonical_name(name):
    """The built-in loader key for `name`, or `None` for a tfds name."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            "Invalid value for argument `name`. Expected one of "
            f"{sorted(LOADERS)} or a tensorflow-datasets name. Received: "
            f"name={name!r}"
        )
    key = name.strip().lower().replace("-", "_")
    return key if key in LOADERS else None


def load(
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
    """Loads a dataset by name.

    Args:
        name: One of `"fashion_mnist"`, `"mnist"`, `"cifar10"`,
            `"cifar100"`, `"digits"`, `"builtin"` (case-insensitive, `-`
            read as `_`), or any other tensorflow-datasets name (`"beans"`,
            `"mnist_corrupted/shot_noise"`): that one is streamed from
            `tfds.load(name, as_supervised=True)`, needs `pip install
            tf-compact[tfds]` and is downloaded only when `download` allows
            it (see `tfds_dataset`).
        batch_size: Examples per batch. Defaults to `128`.
        source: `"auto"` to try the dataset's sources in order, or one
            source name (`"tfds"`, `"idx"`, `"debian"`, `"pickle"`,
            `"sklearn"`, `"builtin"`, depending on the dataset). Defaults to
            `"auto"`.
        data_dir: A tfds data directory or a folder of raw files. Defaults
            to `None`.
        validation_split: Fraction of training data held out as
            `bundle.val`. Defaults to `0.0`.
        limit: Cap on training and on test examples. Defaults to `None`.
        seed: Seed of subset, split and shuffle. Defaults to `0`.
        shuffle_buffer: Shuffle buffer size, `None` for all. Defaults to
            `None`.
        download: Allow a tensorflow-datasets download; `None` allows it
            only for `source="tfds"` or with `TF_COMPACT_DOWNLOAD=1`.
            Defaults to `None`.

    Returns:
        A `DatasetBundle`; data from tensorflow-datasets streams.

    Raises:
        ValueError: If `name` or another argument is invalid.
        DatasetNotFoundError: If no source provides the data.
        ImportError: If a tfds-only name is asked without
            tensorflow-datasets installed.

    Example:

    ```python
    bundle = tf_compact.data.load("fashion_mnist", validation_split=0.1)
    print(bundle.source)
    ```
    """
    options = {
        "batch_size": batch_size,
        "source": source,
        "data_dir": data_dir,
        "validation_split": validation_split,
        "limit": limit,
        "seed": seed,
        "shuffle_buffer": shuffle_buffer,
        "download": download,
    }
    key = _canonical_name(name)
    path_like = "/" in name or os.sep in name or name.startswith("~")
    if key is None and path_like and os.path.exists(os.path.expanduser(name)):
        raise ValueError(
            f"Invalid value for argument `name`: {name!r} is a path, not a "
            "dataset name. Load a folder of class folders, an .npz file or "
            "a folder of .npy arrays with "
            f"`tf_compact.data.from_folder({name!r})`."
        )
    if key is None:
        return loaders.tfds_dataset(name.strip(), **options)
    return LOADERS[key](**options)


def load_from_config(config):
    """Calls the loader recorded by `DatasetBundle.get_config()`.

    Args:
        config: A dict `{"loader": name, "kwargs": {...}}`.

    Returns:
        A `DatasetBundle`.

    Raises:
        ValueError: If the config names no known loader.
    """
    loader = config.get("loader") if isinstance(config, dict) else None
    kwargs = dict(config.get("kwargs", {})) if loader else {}
    if loader == "folder":
        return from_folder(**kwargs)
    if loader == "tfds":
        return loaders.tfds_dataset(**kwargs)
    if loader not in LOADERS:
        raise ValueError(
            "Invalid DatasetBundle config: expected a `loader` among "
            f"{sorted([*LOADERS, 'folder', 'tfds'])}. Received: "
            f"config={config!r}"
        )
    return LOADERS[loader](**kwargs)
