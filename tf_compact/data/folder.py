"""`from_folder`: a `DatasetBundle` from image files or saved numpy arrays."""

import os

import numpy as np
import tensorflow as tf

from tf_compact.data.arrays import bundle_from_arrays
from tf_compact.data.errors import DatasetNotFoundError
from tf_compact.data.splits import loader_options

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_CHANNELS = {"auto": 0, "grayscale": 1, "rgb": 3}
_ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _validate_color_mode(color_mode):
    if color_mode not in _CHANNELS:
        raise ValueError(
            "Invalid value for argument `color_mode`. Expected one of "
            f"{sorted(_CHANNELS)}. Received: color_mode={color_mode!r}"
        )


def _validate_image_size(image_size):
    if image_size is None:
        return None
    ok = isinstance(image_size, (tuple, list)) and len(image_size) == 2
    if not ok or any(
        isinstance(d, bool) or not isinstance(d, int) or d < 1
        for d in image_size
    ):
        raise ValueError(
            "Invalid value for argument `image_size`. Expected None or "
            "(height, width) positive ints. Received: "
            f"image_size={image_size!r}"
        )
    return tuple(image_size)


def _read_npz(path):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if "x_train" not in arrays or "y_train" not in arrays:
        raise ValueError(
            "Invalid .npz for `from_folder`: expected arrays `x_train` and "
            f"`y_train` (and optionally `x_test`, `y_test`, `class_names`). "
            f"Received keys: {sorted(arrays)}"
        )
    return arrays


def _read_npy_dir(path):
    arrays = {}
    for key in (*_ARRAY_KEYS, "class_names"):
        file = os.path.join(path, f"{key}.npy")
        if os.path.isfile(file):
            arrays[key] = np.load(file, allow_pickle=False)
    return arrays


def _class_dirs(path):
    return sorted(
        d
        for d in os.listdir(path)
        if os.path.isdir(os.path.join(path, d)) and not d.startswith(".")
    )


def _list_images(path, class_names):
    files, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(path, name)
        if not os.path.isdir(folder):
            continue
        for f in sorted(os.listdir(folder)):
            if f.lower().endswith(IMAGE_EXTENSIONS):
                files.append(os.path.join(folder, f))
                labels.append(label)
    return files, np.asarray(labels, dtype=np.int32)


def _decode(file, channels, image_size):
    image = tf.io.decode_image(
        tf.io.read_file(file), channels=channels, expand_animations=False
    )
    if image_size is not None and tuple(image.shape[:2]) != image_size:
        image = tf.image.resize(image, image_size, antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return image.numpy()


def _read_images(files, color_mode, image_size):
    images = [_decode(f, _CHANNELS[color_mode], image_size) for f in files]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(
            "Images have different shapes "
            f"{sorted(shapes)[:4]}; pass `image_size=(height, width)` and "
            "`color_mode='grayscale'` or `'rgb'` to make them uniform."
        )
    return np.stack(images).astype(np.uint8)


def _load_image_tree(path, class_names, color_mode, image_size):
    has_splits = all(
        os.path.isdir(os.path.join(path, s)) for s in ("train", "test")
    )
    train_dir = os.path.join(path, "train") if has_splits else path
    names = list(class_names or _class_dirs(train_dir))
    x_files, y = _list_images(train_dir, names)
    if not x_files:
        raise DatasetNotFoundError(
            os.fspath(path),
            [("image folders", f"no image files in class folders {names}")],
            "Expected <path>/<class>/*.png or <path>/train|test/<class>/*.",
        )
    arrays = [_read_images(x_files, color_mode, image_size), y, None, None]
    if has_splits:
        t_files, y_test = _list_images(os.path.join(path, "test"), names)
        arrays[2] = _read_images(t_files, color_mode, image_size)
        arrays[3] = y_test
    return arrays, names


def from_folder(
    path,
    image_size=None,
    color_mode="auto",
    class_names=None,
    batch_size=128,
    validation_split=0.0,
    test_split=0.2,
    limit=None,
    seed=0,
    shuffle_buffer=None,
):
    """Loads a dataset from a folder of images or of saved numpy arrays.

    Layouts understood, in this order:

    - a `.npz` file with `x_train`, `y_train` and optionally `x_test`,
      `y_test`, `class_names`;
    - a folder holding `x_train.npy`, `y_train.npy` (and optionally
      `x_test.npy`, `y_test.npy`, `class_names.npy`);
    - a folder with `train/` and `test/` subfolders, each holding one
      folder of images per class;
    - a folder holding one folder of images per class (the test set is
      then `test_split` of the images, chosen with `seed`).

    Images (PNG, JPEG, BMP, GIF) are decoded with TensorFlow; classes are
    the sorted folder names unless `class_names` is given.

    Args:
        path: The file or folder.
        image_size: `(height, width)` to resize every image to; `None`
            requires all images to share one size. Defaults to `None`.
        color_mode: `"auto"` keeps the stored channels, `"grayscale"` or
            `"rgb"` converts. Defaults to `"auto"`.
        class_names: Class folder names in label order, or names for array
            labels; `None` uses the sorted folder names. Defaults to `None`.
        batch_size: Examples per batch. Defaults to `128`.
        validation_split: Fraction of training data held out. Defaults to
            `0.0`.
        test_split: Fraction used as test set when the layout has none.
            Defaults to `0.2`.
        limit: Cap on training and on test examples. Defaults to `None`.
        seed: Seed of subset, splits and shuffle. Defaults to `0`.
        shuffle_buffer: Shuffle buffer size, `None` for all. Defaults to
            `None`.

    Returns:
        A `DatasetBundle`; uint8 images are scaled to `[0, 1]`.

    Raises:
        DatasetNotFoundError: If `path` does not exist or holds no data.
        ValueError: If images differ in shape or arguments are invalid.

    Example:

    ```python
    bundle = tf_compact.data.from_folder("flowers/", image_size=(64, 64))
    ```
    """
    opts = loader_options(
        batch_size, validation_split, limit, seed, shuffle_buffer
    )
    _validate_color_mode(color_mode)
    image_size = _validate_image_size(image_size)
    path = os.fspath(path)
    config = {
        "loader": "folder",
        "kwargs": {
            **opts,
            "path": path,
            "image_size": None if image_size is None else list(image_size),
            "color_mode": color_mode,
            "class_names": None if class_names is None else list(class_names),
            "test_split": test_split,
        },
    }
    arrays, names, what = _read_path(path, class_names, color_mode, image_size)
    source = f"{what} in {path}"
    return bundle_from_arrays(
        arrays, names, opts, test_split, "auto", source, config
    )


def _read_path(path, class_names, color_mode, image_size):
    if os.path.isfile(path) and path.endswith(".npz"):
        found, what = _read_npz(path), "numpy arrays (.npz)"
    elif os.path.isdir(path) and os.path.isfile(
        os.path.join(path, "x_train.npy")
    ):
        found, what = _read_npy_dir(path), "numpy arrays (.npy)"
    elif os.path.isdir(path):
        arrays, names = _load_image_tree(
            path, class_names, color_mode, image_size
        )
        return arrays, names, "image files"
    else:
        raise DatasetNotFoundError(
            path,
            [("path", "is neither an .npz file nor a directory")],
        )
    if class_names is None and "class_names" in found:
        class_names = [str(n) for n in found["class_names"]]
    arrays = [found.get(k) for k in _ARRAY_KEYS]
    return arrays, class_names, what
