"""Writers for tiny raw dataset files used by the data tests."""

import gzip
import os
import pickle

import numpy as np

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
HAS_DEBIAN = os.path.isfile(
    os.path.join(DEBIAN_DIR, "t10k-labels-idx1-ubyte.gz")
)


def write_idx(path, array):
    """Writes `array` (uint8) as an IDX file, gzip-compressed for `.gz`."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def write_idx_dir(directory, x_train, y_train, x_test, y_test, gz=True):
    """Writes the four MNIST-style IDX files into `directory`."""
    os.makedirs(directory, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(f"{directory}/train-images-idx3-ubyte{suffix}", x_train)
    write_idx(f"{directory}/train-labels-idx1-ubyte{suffix}", y_train)
    write_idx(f"{directory}/t10k-images-idx3-ubyte{suffix}", x_test)
    write_idx(f"{directory}/t10k-labels-idx1-ubyte{suffix}", y_test)


def cifar_rows(images):
    """NHWC uint8 images → CIFAR rows (all red, then green, then blue)."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def _dump(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def write_cifar10_dir(directory, images, labels, test_images, test_labels):
    """Writes a CIFAR-10 python-batches folder; train is cut in 5 batches."""
    os.makedirs(directory, exist_ok=True)
    chunks = np.array_split(np.arange(len(labels)), 5)
    for i, idx in enumerate(chunks, start=1):
        _dump(
            os.path.join(directory, f"data_batch_{i}"),
            {
                b"data": cifar_rows(images[idx]),
                b"labels": [int(v) for v in labels[idx]],
            },
        )
    _dump(
        os.path.join(directory, "test_batch"),
        {
            b"data": cifar_rows(test_images),
            b"labels": [int(v) for v in test_labels],
        },
    )
    names = [f"c{i}".encode() for i in range(10)]
    _dump(os.path.join(directory, "batches.meta"), {b"label_names": names})


def write_cifar100_dir(directory, images, labels, test_images, test_labels):
    """Writes a CIFAR-100 python folder (`train`, `test`, `meta`)."""
    os.makedirs(directory, exist_ok=True)
    for name, x, y in (
        ("train", images, labels),
        ("test", test_images, test_labels),
    ):
        _dump(
            os.path.join(directory, name),
            {
                b"data": cifar_rows(x),
                b"fine_labels": [int(v) for v in y],
                b"coarse_labels": [int(v) // 5 for v in y],
            },
        )
    names = [f"fine{i}".encode() for i in range(100)]
    _dump(os.path.join(directory, "meta"), {b"fine_label_names": names})


def real_fashion_images(count, split="test"):
    """Returns `count` real Fashion-MNIST images `(N, 28, 28)` and labels,
    taken from the subset shipped with the package."""
    from tf_compact.data import small

    with np.load(small.builtin_path()) as npz:
        x, y = npz[f"x_{split}"][:count, ..., 0], npz[f"y_{split}"][:count]
    return x, y.astype(np.uint8)
