"""Small datasets that need no download: the built-in Fashion-MNIST subset
shipped inside the package, and scikit-learn's 8x8 digits."""

import functools
import importlib.resources

import numpy as np

from tf_compact.data import sources
from tf_compact.data.errors import SourceUnavailable
from tf_compact.data.splits import make_bundle
from tf_compact.data.splits import options_from

BUILTIN_FILE = "fashion_mnist_subset.npz"
DIGITS_TEST_FRACTION = 0.2


def builtin_path():
    """Returns the path of the built-in Fashion-MNIST subset file."""
    files = importlib.resources.files("tf_compact.data")
    return str(files / "builtin" / BUILTIN_FILE)


def _read_builtin():
    path = builtin_path()
    try:
        with np.load(path) as npz:
            splits = {k: npz[k] for k in ("x_train", "y_train", "x_test")}
            splits["y_test"] = npz["y_test"]
            names = [str(n) for n in npz["class_names"]]
    except FileNotFoundError as e:
        raise SourceUnavailable(f"{path} is missing from the package") from e
    held = (len(splits["y_train"]), len(splits["y_test"]))
    return splits, names, functools.partial(_builtin_text, path, held)


def _builtin_text(path, held, used):
    """Where the built-in subset came from, with the examples used.

    Args:
        path: the subset's file.
        held: `(train, test)` counts of the file.
        used: `{"train": n, "val": n, "test": n}` counts in use (after
            `limit` and `validation_split`).
    """
    counts = f"{used['train']} train, "
    if used["val"]:
        counts += f"{used['val']} validation, "
    counts += f"{used['test']} test images"
    if (used["train"] + used["val"], used["test"]) != held:
        counts += f" of its {held[0]} train and {held[1]} test"
    return (
        f"tf_compact built-in Fashion-MNIST subset ({counts}; MIT licence, "
        f"Zalando SE) in {path}"
    )


def builtin(
    batch_size=128,
    source="auto",
    data_dir=None,
    validation_split=0.0,
    limit=None,
    seed=0,
    shuffle_buffer=None,
    download=None,
):
    """Loads the class-balanced Fashion-MNIST subset shipped with tf_compact.

    A few thousand real Fashion-MNIST images (28x28x1, 10 classes) stored
    inside the package, so examples run offline with no extra step. The
    data is MIT-licensed by Zalando SE; see `builtin/LICENSE-fashion-mnist`.

    Args:
        batch_size: Examples per batch. Defaults to `128`.
        source: `"auto"` or `"builtin"`. Defaults to `"auto"`.
        data_dir: Ignored; accepted so `load()` treats all datasets alike.
            Defaults to `None`.
        validation_split: Fraction of training data held out. Defaults to
            `0.0`.
        limit: Cap on training and on test examples. Defaults to `None`.
        seed: Seed of subset, split and shuffle. Defaults to `0`.
        shuffle_buffer: Shuffle buffer size, `None` for all. Defaults to
            `None`.
        download: Ignored. Defaults to `None`.

    Returns:
        A `DatasetBundle` of float32 images in `[0, 1]`, NHWC.

    Raises:
        DatasetNotFoundError: If the file is missing from the installation.

    Example:

    ```python
    bundle = tf_compact.data.builtin()
    model.fit(bundle.train, epochs=1)
    ```
    """
    candidate = ("builtin", "package data", _read_builtin)
    hint = "Reinstall tf_compact: its package data is incomplete."
    return _load_one_source("builtin", candidate, hint, 1.0 / 255.0, locals())


def _read_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise SourceUnavailable(
            "scikit-learn is not installed (pip install scikit-learn)"
        ) from e
    raw = load_digits()
    images = np.rint(raw.images).astype(np.uint8)[..., np.newaxis]
    labels = raw.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(labels))
    n_test = int(round(len(labels) * DIGITS_TEST_FRACTION))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    splits = {
        "x_train": images[train],
        "y_train": labels[train],
        "x_test": images[test],
        "y_test": labels[test],
    }
    import sklearn

    text = f"scikit-learn {sklearn.__version__} load_digits (bundled copy)"
    return splits, [str(i) for i in range(10)], text


def digits(
    batch_size=128,
    source="auto",
    data_dir=None,
    validation_split=0.0,
    limit=None,
    seed=0,
    shuffle_buffer=None,
    download=None,
):
    """Loads scikit-learn's 8x8 handwritten digits (1797 images, 10 classes).

    Images have shape `(8, 8, 1)`; the 0..16 grey levels are scaled to
    `[0, 1]`. A fixed 20% of the images (the same for every `seed`) form the
    test split.

    Args:
        batch_size: Examples per batch. Defaults to `128`.
        source: `"auto"` or `"sklearn"`. Defaults to `"auto"`.
        data_dir: Ignored. Defaults to `None`.
        validation_split: Fraction of training data held out. Defaults to
            `0.0`.
        limit: Cap on training and on test examples. Defaults to `None`.
        seed: Seed of subset, split and shuffle. Defaults to `0`.
        shuffle_buffer: Shuffle buffer size, `None` for all. Defaults to
            `None`.
        download: Ignored. Defaults to `None`.

    Returns:
        A `DatasetBundle` of float32 images in `[0, 1]`.

    Raises:
        DatasetNotFoundError: If scikit-learn is not installed.

    Example:

    ```python
    bundle = tf_compact.data.digits(batch_size=32)
    ```
    """
    candidate = ("sklearn", "scikit-learn", _read_digits)
    hint = "Install scikit-learn: pip install scikit-learn."
    return _load_one_source("digits", candidate, hint, 1.0 / 16.0, locals())


def _load_one_source(loader, candidate, hint, scale, kw):
    """A bundle of a dataset with one source; `data_dir`, `download` unused."""
    opts, source = options_from(kw), kw["source"]
    splits, names, text = sources.resolve(loader, [candidate], source, hint)
    config = {"loader": loader, "kwargs": {**opts, "source": source}}
    return make_bundle(splits, names, text, scale, opts, config)
