"""Readers for the raw file formats of the classic image datasets.

IDX is the format of MNIST and Fashion-MNIST (optionally gzip-compressed);
the CIFAR "python version" ships pickled dictionaries of uint8 rows.
"""

import gzip
import os
import pickle

import numpy as np

from tf_compact.data.errors import SourceUnavailable

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IDX_FILES = {
    "x_train": "train-images",
    "y_train": "train-labels",
    "x_test": "t10k-images",
    "y_test": "t10k-labels",
}


def read_idx(path):
    """Reads one IDX file (raw or `.gz`) into a numpy array.

    Args:
        path: Path of the file.

    Returns:
        A numpy array with the shape and dtype stored in the file header.

    Raises:
        ValueError: If the file is not a valid IDX file.
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"Invalid IDX file: bad magic number. Received: path={path}"
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(
            f"Invalid IDX file: unknown type code {code:#x}. "
            f"Received: path={path}"
        )
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(data[4:header], ">u4"))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"Invalid IDX file: header announces shape {dims} "
            f"({expected} bytes) but the file holds {len(data) - header} "
            f"bytes of data. Received: path={path}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header)
    return array.reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx_file(directory, prefix):
    names = sorted(
        n for n in os.listdir(directory) if n.startswith(prefix) and "idx" in n
    )
    if not names:
        raise SourceUnavailable(f"no {prefix}*idx* file in {directory}")
    gz = [n for n in names if n.endswith(".gz")]
    return os.path.join(directory, (gz or names)[0])


def load_idx_directory(directory):
    """Reads the four MNIST-style IDX files of a directory.

    Args:
        directory: Folder holding `train-images`, `train-labels`,
            `t10k-images` and `t10k-labels` IDX files (`.gz` or raw).

    Returns:
        A tuple `(splits, files)`: `splits` maps `x_train`, `y_train`,
        `x_test`, `y_test` to numpy arrays (images `(N, H, W, 1)` uint8),
        `files` is the list of file paths read.

    Raises:
        SourceUnavailable: If the directory or one of the files is missing.
    """
    if not directory or not os.path.isdir(directory):
        raise SourceUnavailable(f"directory {directory!r} does not exist")
    paths = {k: _find_idx_file(directory, p) for k, p in IDX_FILES.items()}
    splits = {k: read_idx(p) for k, p in paths.items()}
    for key in ("x_train", "x_test"):
        splits[key] = splits[key][..., np.newaxis]
    return splits, sorted(paths.values())


def _unpickle(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def _cifar_rows_to_images(rows):
    rows = np.asarray(rows, dtype=np.uint8)
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _cifar_root(directory, variant):
    if not directory or not os.path.isdir(directory):
        raise SourceUnavailable(f"directory {directory!r} does not exist")
    inner = "cifar-10-batches-py" if variant == 10 else "cifar-100-python"
    nested = os.path.join(directory, inner)
    return nested if os.path.isdir(nested) else directory


def load_cifar_directory(directory, variant=10):
    """Reads a CIFAR "python version" directory of pickled batches.

    The pickles are trusted input: only point this at files you obtained
    from the CIFAR distribution yourself.

    Args:
        directory: For CIFAR-10, the folder with `data_batch_1` ...
            `data_batch_5` and `test_batch` (or its parent holding
            `cifar-10-batches-py`); for CIFAR-100, the folder with `train`
            and `test` (or its parent holding `cifar-100-python`).
        variant: `10` or `100`. Defaults to `10`.

    Returns:
        A tuple `(splits, class_names, files)`, as for IDX directories
        plus the class names from the `meta` file when present.

    Raises:
        SourceUnavailable: If the directory or one of the files is missing.
    """
    root = _cifar_root(directory, variant)
    if variant == 10:
        train = [f"data_batch_{i}" for i in range(1, 6)]
        test, meta = ["test_batch"], "batches.meta"
        label_key, names_key = b"labels", b"label_names"
    else:
        train, test, meta = ["train"], ["test"], "meta"
        label_key, names_key = b"fine_labels", b"fine_label_names"
    files = [os.path.join(root, n) for n in train + test]
    missing = [os.path.basename(p) for p in files if not os.path.isfile(p)]
    if missing:
        raise SourceUnavailable(f"missing {', '.join(missing)} in {root}")
    splits = {}
    for split, names in (("train", train), ("test", test)):
        batches = [_unpickle(os.path.join(root, n)) for n in names]
        splits[f"x_{split}"] = np.concatenate(
            [_cifar_rows_to_images(b[b"data"]) for b in batches]
        )
        splits[f"y_{split}"] = np.concatenate(
            [np.asarray(b[label_key], dtype=np.int32) for b in batches]
        )
    class_names = None
    meta_path = os.path.join(root, meta)
    if os.path.isfile(meta_path):
        raw = _unpickle(meta_path).get(names_key)
        if raw is not None:
            class_names = [n.decode("utf-8") for n in raw]
    return splits, class_names, files
