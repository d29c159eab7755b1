"""`from_folder` and `from_arrays` on real images written to tmp."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.data import helpers
from tf_compact import data


def _write_pngs(root, images, labels, names):
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(root, names[label])
        os.makedirs(folder, exist_ok=True)
        png = tf.io.encode_png(image[..., None]).numpy()
        with open(os.path.join(folder, f"{i:03d}.png"), "wb") as f:
            f.write(png)


def test_folder_of_class_folders_round_trips_pixels(tmp_path):
    x, y = helpers.real_fashion_images(12)
    y = y % 3
    _write_pngs(str(tmp_path), x, y, ["ant", "bee", "cat"])
    bundle = data.from_folder(tmp_path, test_split=0.25, batch_size=4)
    assert bundle.class_names == ["ant", "bee", "cat"]
    assert "image files" in bundle.source
    assert bundle.num_examples("test") == 3
    x_tr, y_tr, x_te, y_te = bundle.arrays(normalized=False)
    stored = {(int(c), im.tobytes()) for im, c in zip(x, y)}
    got = {(int(c), im[..., 0].tobytes()) for im, c in zip(x_tr, y_tr)}
    got |= {(int(c), im[..., 0].tobytes()) for im, c in zip(x_te, y_te)}
    assert got == stored
    assert bundle.arrays()[0].max() <= 1.0


def test_images_in_subfolders_of_a_class_belong_to_it(tmp_path):
    x, y = helpers.real_fashion_images(12)
    y = y % 2
    names = ["a", "b"]
    _write_pngs(str(tmp_path), x[:6], y[:6], names)
    # The other half one and two levels deeper, as in an exported photo
    # library (class/album/...).
    deep = [os.path.join("a", "album"), os.path.join("b", "album", "day1")]
    _write_pngs(str(tmp_path), x[6:], y[6:], deep)
    bundle = data.from_folder(tmp_path, test_split=0.25, batch_size=4)
    assert bundle.class_names == names
    assert bundle.num_examples("train") + bundle.num_examples("test") == 12
    x_tr, y_tr, x_te, y_te = bundle.arrays(normalized=False)
    stored = {(int(c), im.tobytes()) for im, c in zip(x, y)}
    got = {(int(c), im[..., 0].tobytes()) for im, c in zip(x_tr, y_tr)}
    got |= {(int(c), im[..., 0].tobytes()) for im, c in zip(x_te, y_te)}
    assert got == stored


def test_train_test_layout_and_resizing(tmp_path):
    x, y = helpers.real_fashion_images(8)
    y = y % 2
    _write_pngs(str(tmp_path / "train"), x[:6], y[:6], ["a", "b"])
    _write_pngs(str(tmp_path / "test"), x[6:], y[6:], ["a", "b"])
    bundle = data.from_folder(
        tmp_path, image_size=(14, 14), color_mode="rgb", batch_size=2
    )
    assert bundle.input_shape == (14, 14, 3)
    assert bundle.num_examples("train") == 6
    assert bundle.num_examples("test") == 2
    x_batch, _ = next(iter(bundle.test))
    assert x_batch.shape == (2, 14, 14, 3) and x_batch.dtype == "float32"


def test_test_classes_missing_from_train_are_named(tmp_path):
    x, y = helpers.real_fashion_images(8)
    _write_pngs(str(tmp_path / "train"), x[:6], y[:6] % 2, ["a", "b"])
    _write_pngs(str(tmp_path / "test"), x[6:], [0, 2], ["a", "b", "z"])
    with pytest.warns(UserWarning, match=r"\['z'\].*left out"):
        bundle = data.from_folder(tmp_path)
    assert bundle.num_examples("test") == 1


def test_mixed_image_sizes_need_image_size(tmp_path):
    x, _ = helpers.real_fashion_images(2)
    _write_pngs(str(tmp_path), x[:1], [0], ["a"])
    _write_pngs(str(tmp_path), x[1:, :20, :20], [0], ["b"])
    with pytest.raises(ValueError, match="image_size"):
        data.from_folder(tmp_path)


def test_a_corrupt_image_is_named(tmp_path):
    x, y = helpers.real_fashion_images(6)
    _write_pngs(str(tmp_path), x, y % 2, ["a", "b"])
    good = (tmp_path / "a" / os.listdir(tmp_path / "a")[0]).read_bytes()
    (tmp_path / "b" / "zz_broken.png").write_bytes(good[:60])
    broken = os.path.join("b", "zz_broken.png")
    with pytest.raises(ValueError, match=f"{broken}: it ends before its IEND"):
        data.from_folder(tmp_path, test_split=0.0, batch_size=2)
    (tmp_path / "b" / "zz_broken.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="does not start as a PNG"):
        data.from_folder(tmp_path, test_split=0.0, batch_size=2)
    (tmp_path / "b" / "zz_broken.png").unlink()
    # One file is decoded when the folder is read, for the shape.
    (tmp_path / "only" / "a").mkdir(parents=True)
    (tmp_path / "only" / "a" / "broken.png").write_bytes(good[:60])
    with pytest.raises(ValueError, match="broken.png"):
        data.from_folder(tmp_path / "only", test_split=0.0)


def test_a_jpeg_cut_short_is_named_and_one_with_appended_data_is_read(
    tmp_path,
):
    x, _ = helpers.real_fashion_images(2)
    for i, name in enumerate(["a", "b"]):
        (tmp_path / name).mkdir()
        jpeg = tf.io.encode_jpeg(x[i][..., None]).numpy()
        (tmp_path / name / "0.jpg").write_bytes(jpeg)
    whole = (tmp_path / "b" / "0.jpg").read_bytes()
    # Some writers append data after the end-of-image marker: still read.
    (tmp_path / "b" / "0.jpg").write_bytes(whole + bytes(300))
    bundle = data.from_folder(tmp_path, test_split=0.0, batch_size=2)
    assert bundle.num_examples("train") == 2
    (tmp_path / "b" / "0.jpg").write_bytes(whole[: len(whole) // 2])
    broken = os.path.join("b", "0.jpg")
    with pytest.raises(ValueError, match=f"{broken}: it ends before its end"):
        data.from_folder(tmp_path, test_split=0.0, batch_size=2)


@pytest.mark.parametrize("layout", ["flat", "train_test"])
def test_an_empty_class_folder_is_refused_by_name(tmp_path, layout):
    x, y = helpers.real_fashion_images(8)
    root = tmp_path / "train" if layout == "train_test" else tmp_path
    _write_pngs(str(root), x, y % 2, ["ant", "bee"])
    if layout == "train_test":
        _write_pngs(str(tmp_path / "test"), x, y % 2, ["ant", "bee"])
    (root / "empty_class").mkdir()
    (root / "notes_only").mkdir()
    (root / "notes_only" / "notes.txt").write_text("no image here")
    with pytest.raises(ValueError) as error:
        data.from_folder(tmp_path, batch_size=4)
    message = str(error.value)
    for name in ("empty_class", "notes_only"):
        assert os.path.join(str(root), name) in message
    assert "ant" not in message and "bee" not in message
    assert "Remove those folders, or add images to them" in message
    # With the label order given, the named classes are the user's choice.
    bundle = data.from_folder(
        tmp_path, class_names=["ant", "bee", "empty_class"], batch_size=4
    )
    assert bundle.class_names == ["ant", "bee", "empty_class"]


def test_npz_and_npy_layouts(tmp_path):
    x, y = helpers.real_fashion_images(20)
    np.savez(
        tmp_path / "d.npz",
        x_train=x[:15],
        y_train=y[:15],
        x_test=x[15:],
        y_test=y[15:],
        class_names=np.arange(10).astype(str),
    )
    bundle = data.from_folder(tmp_path / "d.npz")
    assert "(.npz)" in bundle.source and bundle.num_examples("test") == 5
    assert bundle.get_config()["loader"] == "folder"
    again = data.DatasetBundle.from_config(bundle.get_config())
    np.testing.assert_array_equal(again.arrays()[0], bundle.arrays()[0])
    npy = tmp_path / "npy"
    npy.mkdir()
    np.save(npy / "x_train.npy", x)
    np.save(npy / "y_train.npy", y)
    bundle = data.from_folder(npy, test_split=0.5)
    assert "(.npy)" in bundle.source
    assert bundle.num_examples("train") == bundle.num_examples("test") == 10


def test_folder_errors(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="no image files"):
        data.from_folder(tmp_path)
    with pytest.raises(data.DatasetNotFoundError, match="does not exist"):
        data.from_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="color_mode='cmyk'"):
        data.from_folder(tmp_path, color_mode="cmyk")


def test_from_arrays_scales_uint8_and_keeps_floats():
    x, y = helpers.real_fashion_images(10)
    bundle = data.from_arrays(x[..., None], y, test_split=0.2)
    assert bundle.scale == pytest.approx(1 / 255)
    assert bundle.num_examples("test") == 2
    signals = np.random.default_rng(0).normal(size=(30, 128, 3))
    labels = np.arange(30) % 6
    bundle = data.from_arrays(
        signals, labels, signals[:6], labels[:6], batch_size=8
    )
    assert bundle.input_shape == (128, 3) and bundle.scale is None
    assert bundle.num_classes == 6
    np.testing.assert_allclose(bundle.arrays()[2], signals[:6], rtol=1e-6)
    with pytest.raises(ValueError, match="get_config|config"):
        bundle.get_config()


def test_from_arrays_validation():
    x = np.zeros((4, 3, 3, 1), np.uint8)
    with pytest.raises(ValueError, match=r"y.shape=\(3,\)"):
        data.from_arrays(x, [0, 1, 2])
    with pytest.raises(TypeError, match="integer class labels"):
        data.from_arrays(x, [0.5, 1, 2, 3])
    with pytest.raises(ValueError, match="at least 4 names"):
        data.from_arrays(x, [0, 1, 2, 3], class_names=["a", "b"])
    with pytest.raises(ValueError, match="go together"):
        data.from_arrays(x, [0, 1, 2, 3], x_test=x)
    with pytest.raises(ValueError, match="normalize='x'"):
        data.from_arrays(x, [0, 1, 2, 3], normalize="x")


def test_auto_colour_does_not_depend_on_which_image_comes_first(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(10):
            rgb = rng.integers(0, 256, (8, 8, 3), np.uint8)
            png = tf.io.encode_png(rgb).numpy()
            (tmp_path / c / f"{i:02d}.png").write_bytes(png)
    # One grayscale image, first in its class folder.
    gray = tf.io.encode_png(rng.integers(0, 256, (8, 8, 1), np.uint8))
    (tmp_path / "a" / "00.png").write_bytes(gray.numpy())
    shapes = {
        data.from_folder(str(tmp_path), limit=limit, seed=seed).input_shape
        for limit in (5, 10, None)
        for seed in (0, 1)
    }
    assert shapes == {(8, 8, 3)}
    only_gray = tmp_path / "gray"
    for c in ("a", "b"):
        (only_gray / c).mkdir(parents=True)
        (only_gray / c / "0.png").write_bytes(gray.numpy())
    assert data.from_folder(str(only_gray)).input_shape == (8, 8, 1)
    # Transparent images keep their alpha channel.
    rgba = tmp_path / "rgba"
    for c in ("a", "b"):
        (rgba / c).mkdir(parents=True)
        four = rng.integers(0, 256, (8, 8, 4), np.uint8)
        (rgba / c / "0.png").write_bytes(tf.io.encode_png(four).numpy())
    assert data.from_folder(str(rgba)).input_shape == (8, 8, 4)
