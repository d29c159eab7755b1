"""Named loaders on real data found on the machine, and their errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.data import helpers
from tf_compact import data
from tf_compact.data import sources

needs_debian = pytest.mark.skipif(
    not helpers.HAS_DEBIAN,
    reason="Debian package dataset-fashion-mnist is not installed",
)


@pytest.fixture(autouse=True)
def _no_download(monkeypatch, tmp_path):
    """No test may reach the network or a user's tfds folder."""
    monkeypatch.delenv(sources.DOWNLOAD_ENV, raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no_tfds"))


def _check_batches(ds, batch_size, shape, num_classes):
    sizes = []
    for x, y in ds:
        assert x.dtype == "float32" and y.dtype == "int32"
        assert tuple(x.shape[1:]) == shape
        x = x.numpy()
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert np.all((y.numpy() >= 0) & (y.numpy() < num_classes))
        sizes.append(len(y))
    assert all(s == batch_size for s in sizes[:-1])
    assert 0 < sizes[-1] <= batch_size
    return sum(sizes)


@needs_debian
def test_fashion_mnist_falls_back_to_debian_files(tmp_path):
    bundle = data.fashion_mnist(
        batch_size=32, data_dir=tmp_path, limit=200, validation_split=0.25
    )
    assert "fashion-mnist" in bundle.source
    assert "Debian" in bundle.source
    assert bundle.class_names[0] == "T-shirt/top"
    assert bundle.num_classes == 10 and bundle.input_shape == (28, 28, 1)
    assert _check_batches(bundle.train, 32, (28, 28, 1), 10) == 150
    assert _check_batches(bundle.val, 32, (28, 28, 1), 10) == 50
    assert _check_batches(bundle.test, 32, (28, 28, 1), 10) == 200
    x_train, _, x_test, _ = bundle.arrays()
    assert x_train.dtype == np.float32 and x_test.shape == (200, 28, 28, 1)
    assert x_train.max() == 1.0


@needs_debian
def test_fashion_mnist_debian_is_the_full_dataset():
    bundle = data.fashion_mnist(source="debian")
    assert bundle.num_examples("train") == 60000
    assert bundle.num_examples("test") == 10000
    _, y_train, _, _ = bundle.arrays(normalized=False)
    assert np.bincount(y_train).tolist() == [6000] * 10


def test_train_is_shuffled_with_seed_and_test_is_not():
    a = data.builtin(batch_size=50, limit=300, seed=3)
    b = data.builtin(batch_size=50, limit=300, seed=3)
    first_a = next(iter(a.train))[1].numpy()
    first_b = next(iter(b.train))[1].numpy()
    np.testing.assert_array_equal(first_a, first_b)
    _, y_train, _, y_test = a.arrays()
    assert not np.array_equal(first_a, y_train[:50])
    test_labels = np.concatenate([y.numpy() for _, y in a.test])
    np.testing.assert_array_equal(test_labels, y_test)


def test_builtin_subset_is_balanced_real_data_with_licence():
    bundle = data.builtin()
    _, y_train, x_test, y_test = bundle.arrays(normalized=False)
    assert np.bincount(y_train).tolist() == [600] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    assert x_test.dtype == np.uint8 and x_test.std() > 50
    assert "MIT" in bundle.source and "built-in" in bundle.source
    licence = data.small.builtin_path().replace(
        "fashion_mnist_subset.npz", "LICENSE-fashion-mnist"
    )
    with open(licence) as f:
        text = f.read()
    assert "Zalando SE" in text and "Permission is hereby granted" in text


def test_builtin_source_counts_the_examples_in_use():
    assert "(6000 train, 1000 test images; MIT" in data.builtin().source
    split = data.builtin(validation_split=0.1).source
    assert "(5400 train, 600 validation, 1000 test images; MIT" in split
    limited = data.builtin(limit=300, validation_split=0.1)
    assert (
        "(270 train, 30 validation, 300 test images of its 6000 train and "
        "1000 test; MIT" in limited.source
    )
    assert limited.num_examples("train") == 270


def test_digits_come_from_sklearn_scaled_to_unit_range():
    bundle = data.digits(batch_size=64)
    assert "scikit-learn" in bundle.source
    assert bundle.input_shape == (8, 8, 1)
    total = bundle.num_examples("train") + bundle.num_examples("test")
    assert total == 1797
    assert _check_batches(bundle.test, 64, (8, 8, 1), 10) == 359
    assert bundle.arrays()[0].max() == 1.0


def test_mnist_reads_an_idx_directory(tmp_path):
    x, y = helpers.real_fashion_images(30)
    helpers.write_idx_dir(str(tmp_path), x[:20], y[:20], x[20:], y[20:])
    bundle = data.mnist(data_dir=tmp_path, batch_size=8)
    assert "IDX files in" in bundle.source and str(tmp_path) in bundle.source
    assert bundle.class_names == [str(i) for i in range(10)]
    np.testing.assert_allclose(bundle.arrays()[2][..., 0], x[20:] / 255.0)


def test_a_data_dir_under_home_is_expanded(tmp_path, monkeypatch):
    x, y = helpers.real_fashion_images(30)
    helpers.write_idx_dir(str(tmp_path / "idx"), x[:20], y[:20], x[20:], y[20:])
    monkeypatch.setenv("HOME", str(tmp_path))
    bundle = data.mnist(data_dir="~/idx", source="idx", batch_size=8)
    np.testing.assert_allclose(bundle.arrays()[2][..., 0], x[20:] / 255.0)


@needs_debian
def test_a_data_dir_holding_nothing_is_named_before_another_source(tmp_path):
    with pytest.warns(UserWarning, match="holds neither") as caught:
        bundle = data.fashion_mnist(data_dir=tmp_path, limit=10)
    assert "Debian package" in bundle.source
    assert str(tmp_path) in str(caught[0].message)


def test_cifar10_reads_python_batches(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(15, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=15)
    helpers.write_cifar10_dir(str(tmp_path), x[:10], y[:10], x[10:], y[10:])
    bundle = data.cifar10(data_dir=tmp_path, batch_size=4)
    assert "CIFAR-10 python batches" in bundle.source
    assert bundle.input_shape == (32, 32, 3)
    assert _check_batches(bundle.train, 4, (32, 32, 3), 10) == 10
    np.testing.assert_array_equal(bundle.arrays(normalized=False)[2], x[10:])


def test_cifar100_reads_python_files(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    y = np.array([3, 99, 0, 50, 7, 8, 9, 10])
    helpers.write_cifar100_dir(str(tmp_path), x[:6], y[:6], x[6:], y[6:])
    bundle = data.load("cifar100", data_dir=tmp_path, source="pickle")
    assert bundle.num_classes == 100 and bundle.class_names[99] == "fine99"
    np.testing.assert_array_equal(bundle.arrays()[1], y[:6])


def test_error_lists_every_source_tried(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.cifar10(data_dir=tmp_path)
    message = str(info.value)
    assert "tensorflow-datasets" in message and "python batches" in message
    assert str(tmp_path) in message
    assert [s for s, _ in info.value.attempts] == [
        "tensorflow-datasets [source='tfds']",
        "CIFAR python batches in data_dir [source='pickle']",
    ]


def test_explicit_source_tries_only_that_source(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.fashion_mnist(source="idx", data_dir=tmp_path)
    assert len(info.value.attempts) == 1
    label, reason = info.value.attempts[0]
    assert "source='idx'" in label and "train-images" in reason


def test_mnist_without_data_names_both_sources():
    with pytest.raises(data.DatasetNotFoundError, match="no `data_dir` given"):
        data.mnist()


def test_no_tfds_import_or_download_by_default(monkeypatch, tmp_path):
    def forbidden():
        raise AssertionError("tensorflow_datasets must not be touched")

    monkeypatch.setattr(sources, "_import_tfds", forbidden)
    with pytest.raises(data.DatasetNotFoundError, match="downloads are off"):
        data.mnist(data_dir=tmp_path)


def test_an_offline_download_fails_at_once(monkeypatch, tmp_path):
    import tensorflow_datasets as tfds

    tried = []

    def unreachable(address, timeout):
        tried.append((address, timeout))
        raise OSError("Temporary failure in name resolution")

    def forbidden(*args, **kwargs):
        raise AssertionError("tfds.load must not start a download")

    for key in sources._PROXY_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(sources.socket, "create_connection", unreachable)
    monkeypatch.setattr(tfds, "load", forbidden)
    with pytest.raises(
        data.DatasetNotFoundError, match="cannot be reached to download it"
    ):
        data.load("beans", source="tfds", data_dir=tmp_path)
    assert tried == [((sources.DOWNLOAD_HOST, 443), 5)]


@pytest.mark.parametrize(
    "download, source, env, expected",
    [
        (None, "auto", "", False),
        (None, "auto", "1", True),
        (None, "tfds", "", True),
        (False, "tfds", "1", False),
        (True, "auto", "", True),
    ],
)
def test_download_allowed(monkeypatch, download, source, env, expected):
    monkeypatch.setenv(sources.DOWNLOAD_ENV, env)
    assert sources.download_allowed(download, source) is expected


def test_invalid_arguments_are_reported():
    with pytest.raises(ValueError, match=r"source=.*'nope'"):
        data.digits(source="nope")
    with pytest.raises(ValueError, match="validation_split=1.5"):
        data.builtin(validation_split=1.5)
    with pytest.raises(ValueError, match="batch_size=0"):
        data.builtin(batch_size=0)
    with pytest.raises(TypeError, match="limit='10'"):
        data.builtin(limit="10")
    with pytest.raises(ValueError, match="name='svhn'"):
        data.load("svhn")
    assert data.load("Digits", limit=20).num_examples("train") == 20


def test_config_round_trip_rebuilds_the_same_data():
    bundle = data.load("builtin", limit=100, seed=5, validation_split=0.2)
    config = bundle.get_config()
    json.dumps(config)
    again = data.DatasetBundle.from_config(config)
    for a, b in zip(bundle.arrays(), again.arrays()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(bundle.val_arrays()[1], again.val_arrays()[1])


def test_error_pickles_with_its_attempts():
    import pickle

    error = data.DatasetNotFoundError("x", [("a", "b")], "hint")
    again = pickle.loads(pickle.dumps(error))
    assert again.attempts == [("a", "b")] and str(again) == str(error)


def _prepare_tfds_fashion_mnist(data_dir, x, y):
    """Writes a real prepared tfds `fashion_mnist` from arrays, offline."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    features = tfds.features.FeaturesDict(
        {
            "image": tfds.features.Image(shape=(28, 28, 1)),
            "label": tfds.features.ClassLabel(num_classes=10),
        }
    )

    def split(a, b):
        return tf.data.Dataset.from_tensor_slices(
            {"image": a[..., None], "label": b.astype(np.int64)}
        )

    tfds.dataset_builders.store_as_tfds_dataset(
        name="fashion_mnist",
        version="3.0.1",
        features=features,
        split_datasets={
            "train": split(x[:15], y[:15]),
            "test": split(x[15:], y[15:]),
        },
        data_dir=str(data_dir),
    )


def test_prepared_tfds_data_is_used_first(tmp_path):
    x, y = helpers.real_fashion_images(20)
    _prepare_tfds_fashion_mnist(tmp_path, x, y)
    bundle = data.fashion_mnist(data_dir=tmp_path, batch_size=4)
    assert bundle.source.startswith("tensorflow-datasets in ")
    assert str(tmp_path) in bundle.source
    assert bundle.class_names[0] == "T-shirt/top"
    x_train, y_train, _, y_test = bundle.arrays(normalized=False)
    assert x_train.shape == (15, 28, 28, 1) and x_train.dtype == np.uint8
    assert sorted(y_test.tolist()) == sorted(y[15:].tolist())
    assert _check_batches(bundle.train, 4, (28, 28, 1), 10) == 15


def test_import_stays_light():
    # Keras itself may import sklearn (its wrappers); tf_compact adds none.
    code = (
        "import sys, keras\n"
        "heavy = ('sklearn', 'tensorflow_datasets')\n"
        "before = {m for m in sys.modules if m.startswith(heavy)}\n"
        "import tf_compact\n"
        "assert tf_compact.data.load and tf_compact.models\n"
        "after = {m for m in sys.modules if m.startswith(heavy)}\n"
        "print(sorted(after - before))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_path_given_as_a_name_points_to_from_folder(tmp_path):
    with pytest.raises(ValueError, match=r"is a path.*from_folder"):
        data.load(str(tmp_path))
    with pytest.raises(data.DatasetNotFoundError, match="does not exist"):
        data.from_folder(str(tmp_path / "missing"))
