"""Streaming: image folders read while iterated, tfds names, tfds optional."""

import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_compact import data
from tf_compact.data import sources
from tf_compact.data.streaming import StreamingBundle

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.fixture(autouse=True)
def _no_download(monkeypatch, tmp_path):
    """No test may reach the network or a user's tfds folder."""
    monkeypatch.delenv(sources.DOWNLOAD_ENV, raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no_tfds"))


def _write_folder(root, count, classes=3, size=8):
    """PNGs whose pixels encode `(id, label)`: id in [0,0]/[0,1], label."""
    for i in range(count):
        label = i % classes
        image = np.full((size, size, 1), 50 * label, np.uint8)
        image[0, 0, 0], image[0, 1, 0] = i % 256, i // 256
        folder = os.path.join(root, f"class_{label}")
        os.makedirs(folder, exist_ok=True)
        keras.utils.save_img(
            os.path.join(folder, f"{i:04d}.png"), image, scale=False
        )


def _ids_and_labels(ds):
    ids, labels = [], []
    for x, y in ds:
        x = np.round(x.numpy() * 255).astype(int)
        ids += list(x[:, 0, 0, 0] + 256 * x[:, 0, 1, 0])
        assert np.array_equal(x[:, 4, 4, 0] // 50, y.numpy())
        labels += list(y.numpy())
    return ids, labels


def test_image_folder_streams_from_files(tmp_path, monkeypatch):
    _write_folder(str(tmp_path), 300)
    reads = []
    real_read = tf.io.read_file
    monkeypatch.setattr(
        tf.io, "read_file", lambda f: reads.append(f) or real_read(f)
    )
    bundle = data.from_folder(
        tmp_path, batch_size=32, validation_split=0.25, test_split=0.2
    )
    assert len(reads) <= 1  # one file decoded to learn the channels
    assert isinstance(bundle, StreamingBundle)
    assert bundle.class_names == ["class_0", "class_1", "class_2"]
    assert bundle.input_shape == (8, 8, 1)
    counts = [bundle.num_examples(s) for s in ("train", "val", "test")]
    assert counts == [180, 60, 60]
    for ds in (bundle.train, bundle.val, bundle.test):
        assert isinstance(ds, tf.data.Dataset)
        x_spec, y_spec = ds.element_spec
        assert x_spec.shape.as_list() == [None, 8, 8, 1]
        assert (x_spec.dtype, y_spec.dtype) == (tf.float32, tf.int32)
    assert len(reads) < 10  # tracing the maps, not reading 300 images
    ids = {}
    for split in ("train", "val", "test"):
        got, _ = _ids_and_labels(getattr(bundle, split))
        assert len(got) == len(set(got)) == bundle.num_examples(split)
        ids[split] = set(got)
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"])
    assert not ids["val"] & ids["test"]
    assert ids["train"] | ids["val"] | ids["test"] == set(range(300))
    # Files are read while iterating: an image changed on disk shows up.
    first = sorted(ids["test"])[0]
    label = first % 3
    path = os.path.join(str(tmp_path), f"class_{label}", f"{first:04d}.png")
    changed = np.full((8, 8, 1), 50 * label, np.uint8)
    changed[0, 0, 0], changed[0, 1, 0] = 255, 255  # no image has this id
    keras.utils.save_img(path, changed, scale=False)
    assert 255 + 256 * 255 in _ids_and_labels(bundle.test)[0]


def test_image_folder_train_test_layout_and_resize(tmp_path):
    _write_folder(str(tmp_path / "train"), 12, classes=2, size=10)
    _write_folder(str(tmp_path / "test"), 4, classes=2, size=12)
    bundle = data.from_folder(
        tmp_path, image_size=(6, 6), color_mode="rgb", batch_size=5
    )
    assert bundle.input_shape == (6, 6, 3)
    assert [bundle.num_examples(s) for s in ("train", "val", "test")] == [
        12,
        0,
        4,
    ]
    assert bundle.val is None
    x, y = next(iter(bundle.test))
    assert x.shape == (4, 6, 6, 3) and y.numpy().tolist() == [0, 0, 1, 1]
    x_train, y_train, _, _ = bundle.arrays(normalized=False)
    assert x_train.dtype == np.uint8 and x_train.shape == (12, 6, 6, 3)
    assert np.bincount(y_train).tolist() == [6, 6]


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"color_mode": "cmyk"}, ValueError, "color_mode='cmyk'"),
        ({"image_size": (0, 8)}, ValueError, r"image_size=\(0, 8\)"),
        ({"batch_size": 0}, ValueError, "batch_size=0"),
        ({"validation_split": 1.5}, ValueError, "validation_split=1.5"),
        ({"test_split": 1.0}, ValueError, "test_split=1.0"),
        ({"seed": -1}, ValueError, "seed=-1"),
    ],
)
def test_image_folder_rejects_bad_arguments(tmp_path, kwargs, error, words):
    _write_folder(str(tmp_path), 6)
    with pytest.raises(error, match=words):
        data.from_folder(tmp_path, **kwargs)


def test_image_folder_of_mixed_sizes_needs_image_size(tmp_path):
    _write_folder(str(tmp_path / "a"), 2, classes=1, size=8)
    _write_folder(str(tmp_path / "b"), 2, classes=1, size=9)
    with pytest.raises(ValueError, match="image_size"):
        data.from_folder(tmp_path, class_names=["a/class_0", "b/class_0"])


def _no_whole_split_reads(monkeypatch, tfds):
    def forbidden(*args, **kwargs):
        raise AssertionError("a tfds split must not be read into memory")

    monkeypatch.setattr(tfds, "as_numpy", forbidden)
    # `tfds.testing.mock_data` fakes the download: nothing to reach.
    monkeypatch.setattr(sources, "_check_online", lambda name, builder: None)


def test_builtin_name_streams_from_tfds(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    _no_whole_split_reads(monkeypatch, tfds)
    with tfds.testing.mock_data(num_examples=20):
        bundle = data.load(
            "cifar10", source="tfds", batch_size=8, validation_split=0.25
        )
        assert isinstance(bundle, StreamingBundle)
        assert bundle.source.startswith("tensorflow-datasets in ")
        assert bundle.class_names[0] == "airplane"
        assert [bundle.num_examples(s) for s in ("train", "val", "test")] == [
            15,
            5,
            20,
        ]
        x, y = next(iter(bundle.train))
        assert x.shape == (8, 32, 32, 3) and x.dtype == tf.float32
        assert y.dtype == tf.int32 and float(tf.reduce_max(x)) <= 1.0
        assert sum(int(tf.shape(y)[0]) for _, y in bundle.val) == 5


@pytest.mark.parametrize(
    "name, shape, classes",
    [("mnist_corrupted", (28, 28, 1), 10), ("beans", (500, 500, 3), 3)],
)
def test_any_tfds_name_is_streamed(monkeypatch, name, shape, classes):
    tfds = pytest.importorskip("tensorflow_datasets")
    _no_whole_split_reads(monkeypatch, tfds)
    with tfds.testing.mock_data(num_examples=6):
        bundle = data.load(name, batch_size=4, limit=5)
        assert isinstance(bundle, StreamingBundle)
        assert isinstance(bundle.train, tf.data.Dataset)
        assert bundle.input_shape == shape
        assert bundle.num_classes == classes
        assert bundle.num_examples("train") == 5
        x_spec, y_spec = bundle.test.element_spec
        assert tuple(x_spec.shape) == (None, *shape)
        assert (x_spec.dtype, y_spec.dtype) == (tf.float32, tf.int32)
        x, y = next(iter(bundle.test))
        assert x.shape == (4, *shape) and float(tf.reduce_max(x)) <= 1.0
        config = bundle.get_config()
        assert config["loader"] == "tfds" and config["kwargs"]["name"] == name
        again = data.DatasetBundle.from_config(config)
        assert again.num_examples("test") == 5


def test_tfds_name_offline_fails_fast_naming_the_dataset(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load("beans", data_dir=tmp_path)
    message = str(info.value)
    assert "`beans`" in message and "downloads are off" in message
    assert "download=True" in message and "tfds build beans" in message


def test_unknown_name_is_reported():
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(ValueError, match="name='no_such_dataset_x'"):
        data.load("no_such_dataset_x")


def test_without_tfds(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(ImportError, match=r"pip install tf-compact\[tfds\]"):
        data.load("beans")
    with pytest.raises(data.DatasetNotFoundError, match=r"tf-compact\[tfds\]"):
        data.cifar10(source="tfds")
    bundle = data.load("builtin", limit=20)
    assert bundle.num_examples("train") == 20
    _write_folder(str(tmp_path), 6)
    assert data.from_folder(tmp_path).num_examples("train") == 5


def test_tfds_is_an_optional_extra():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert not any("tensorflow-datasets" in d for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert any(d.startswith("tensorflow-datasets>=4.9") for d in extras["tfds"])
    assert "tfds" in extras["all"][0] and "all" in extras["test"][0]
