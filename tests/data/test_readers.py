"""IDX and CIFAR readers on small files written from real images."""

import os

import numpy as np
import pytest

from tests.data import helpers
from tf_compact.data import readers
from tf_compact.data.errors import SourceUnavailable


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_read_idx_round_trips_real_images(tmp_path, suffix):
    x, _ = helpers.real_fashion_images(7)
    path = str(tmp_path / f"images-idx3-ubyte{suffix}")
    helpers.write_idx(path, x)
    out = readers.read_idx(path)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, x)


def test_read_idx_rejects_bad_magic(tmp_path):
    path = str(tmp_path / "bad-idx")
    with open(path, "wb") as f:
        f.write(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="bad magic"):
        readers.read_idx(path)


def test_read_idx_rejects_truncated_data(tmp_path):
    path = str(tmp_path / "short-idx")
    helpers.write_idx(path, np.zeros((4, 3), np.uint8))
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:-2])
    with pytest.raises(ValueError, match=r"shape \(4, 3\)"):
        readers.read_idx(path)


def test_idx_directory_adds_channel_axis(tmp_path):
    x, y = helpers.real_fashion_images(12)
    helpers.write_idx_dir(str(tmp_path), x[:8], y[:8], x[8:], y[8:], gz=False)
    splits, files = readers.load_idx_directory(str(tmp_path))
    assert splits["x_train"].shape == (8, 28, 28, 1)
    assert splits["x_test"].shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(splits["y_test"], y[8:])
    assert len(files) == 4


def test_idx_directory_missing_file_names_it(tmp_path):
    x, y = helpers.real_fashion_images(4)
    helpers.write_idx_dir(str(tmp_path), x, y, x, y)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(SourceUnavailable, match="t10k-labels"):
        readers.load_idx_directory(str(tmp_path))


def _rgb_images(count):
    x, y = helpers.real_fashion_images(count)
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    rgb = np.stack([x, 255 - x, x // 2], axis=-1).astype(np.uint8)
    return rgb, y


def test_cifar10_reader_restores_channel_order(tmp_path):
    x, y = _rgb_images(13)
    folder = tmp_path / "cifar-10-batches-py"
    helpers.write_cifar10_dir(str(folder), x[:10], y[:10], x[10:], y[10:])
    splits, names, files = readers.load_cifar_directory(str(tmp_path), 10)
    np.testing.assert_array_equal(splits["x_train"], x[:10])
    np.testing.assert_array_equal(splits["y_test"], y[10:])
    assert names == [f"c{i}" for i in range(10)]
    assert len(files) == 6


def test_cifar100_reader_uses_fine_labels(tmp_path):
    x, _ = _rgb_images(6)
    y = np.array([0, 17, 42, 99, 5, 63])
    helpers.write_cifar100_dir(str(tmp_path), x[:4], y[:4], x[4:], y[4:])
    splits, names, _ = readers.load_cifar_directory(str(tmp_path), 100)
    np.testing.assert_array_equal(splits["y_train"], y[:4])
    np.testing.assert_array_equal(splits["x_test"], x[4:])
    assert len(names) == 100 and names[99] == "fine99"


def test_cifar_reader_lists_missing_batches(tmp_path):
    with pytest.raises(SourceUnavailable, match="data_batch_1.*test_batch"):
        readers.load_cifar_directory(str(tmp_path), 10)
