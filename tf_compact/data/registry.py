"""`load`: every dataset loader reached by name."""

from tf_compact.data import loaders
from tf_compact.data import small
from tf_compact.data.folder import from_folder

LOADERS = {
    "fashion_mnist": loaders.fashion_mnist,
    "mnist": loaders.mnist,
    "cifar10": loaders.cifar10,
    "cifar100": loaders.cifar100,
    "digits": small.digits,
    "builtin": small.builtin,
}


def _canonical_name(name):
    key = name.lower().replace("-", "_") if isinstance(name, str) else None
    if key not in LOADERS:
        raise ValueError(
            "Invalid value for argument `name`. Expected one of "
            f"{sorted(LOADERS)}. Received: name={name!r}"
        )
    return key


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
            read as `_`).
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
        A `DatasetBundle`.

    Raises:
        ValueError: If `name` or another argument is invalid.
        DatasetNotFoundError: If no source provides the data.

    Example:

    ```python
    bundle = tf_compact.data.load("fashion_mnist", validation_split=0.1)
    print(bundle.source)
    ```
    """
    return LOADERS[_canonical_name(name)](
        batch_size=batch_size,
        source=source,
        data_dir=data_dir,
        validation_split=validation_split,
        limit=limit,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
        download=download,
    )


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
    if loader not in LOADERS:
        raise ValueError(
            "Invalid DatasetBundle config: expected a `loader` among "
            f"{sorted([*LOADERS, 'folder'])}. Received: config={config!r}"
        )
    return LOADERS[loader](**kwargs)
