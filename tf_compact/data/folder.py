"""`from_folder`: a `DatasetBundle` from image files or saved numpy arrays."""

import os

import numpy as np
import tensorflow as tf

from tf_compact.data import image_files
from tf_compact.data.arrays import bundle_from_arrays
from tf_compact.data.class_folders import class_dirs
from tf_compact.data.class_folders import list_images
from tf_compact.data.class_folders import refuse_empty_classes
from tf_compact.data.class_folders import warn_unknown_test_classes
from tf_compact.data.errors import DatasetNotFoundError
from tf_compact.data.splits import loader_options
from tf_compact.data.splits import split_examples
from tf_compact.data.splits import split_off
from tf_compact.data.splits import validate_split_fraction
from tf_compact.data.streaming import StreamingBundle

_CHANNELS = {"auto": 0, "grayscale": 1, "rgb": 3}
_ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")
_UNREADABLE = (
    "Cannot decode this image file of the folder (corrupt, truncated, or "
    "not a PNG, JPEG, BMP or GIF image); fix or remove it:"
)


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


#: PIL modes of images without colour.
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _headers(files):
    """`(sizes, colour)`: the `(width, height)` of each file and whether
    any holds colour, read from the headers only (cheap for large
    folders); `None` without PIL."""
    try:
        from PIL import Image
    except ImportError:
        return None
    sizes, colour = set(), False
    for f in files:
        with Image.open(f) as im:
            sizes.add(im.size)
            colour = colour or im.mode not in _GRAY_MODES
    return sizes, colour


def _image_shape(files, color_mode, image_size):
    """Shape every decoded image gets: from one decoded file and headers.

    With `color_mode="auto"` the images get the first file's channels,
    and at least three when any file holds colour (read from every
    file's header, so a grayscale first file does not drop the colour of
    the others). Every file's ends are
    checked first (`image_files.check_files`), so a damaged file is named
    here rather than failing, unnamed, in training.
    """
    image_files.check_files(files, _decodes)
    wanted = _CHANNELS[color_mode]
    need_headers = not wanted or image_size is None
    headers = _headers(files) if need_headers else None
    try:
        first = _read_image(files[0], wanted)
    except tf.errors.InvalidArgumentError as error:
        raise ValueError(
            f"{_UNREADABLE} {files[0]} ({error.message})"
        ) from error
    channels = int(first.shape[-1])
    if not wanted and channels < 3 and headers is not None and headers[1]:
        # A grayscale first file in a folder that holds colour.
        channels = 3
        first = _read_image(files[0], channels)
    if image_size is not None:
        return (*image_size, channels)
    if headers is not None and len(headers[0]) > 1:
        shapes = sorted((h, w, channels) for w, h in headers[0])
        raise ValueError(
            f"Images have different shapes {shapes[:4]}; pass "
            "`image_size=(height, width)` (on the command line "
            "--image_size=HEIGHTxWIDTH) to resize them to one size."
        )
    return tuple(int(d) for d in first.shape)


def _decodes(path):
    try:
        _read_image(path, 0)
    except tf.errors.InvalidArgumentError:
        return False
    return True


def _read_image(path, channels):
    data = tf.io.read_file(path)
    return tf.io.decode_image(data, channels=channels, expand_animations=False)


def _decoder(shape, image_size):
    channels = shape[-1]

    def prepare(file, label):
        image = _read_image(file, channels)
        if image_size is not None:
            image = tf.image.resize(image, image_size, antialias=True)
            image = tf.clip_by_value(tf.round(image), 0, 255)
            image = tf.cast(image, tf.uint8)
        return tf.ensure_shape(image, shape), label

    return prepare


def _index_image_tree(path, class_names, test_split, seed):
    """Lists the image files of each split, with their labels."""
    has_splits = all(
        os.path.isdir(os.path.join(path, s)) for s in ("train", "test")
    )
    train_dir = os.path.join(path, "train") if has_splits else path
    names = list(class_names or class_dirs(train_dir))
    files, labels = list_images(train_dir, names)
    if not len(files):
        raise DatasetNotFoundError(
            os.fspath(path),
            [("image folders", f"no image files in class folders {names}")],
            "Expected <path>/<class>/*.png or <path>/train|test/<class>/*.",
        )
    if class_names is None:
        refuse_empty_classes(path, train_dir, names, labels)
    if has_splits:
        test_dir = os.path.join(path, "test")
        t_files, t_labels = list_images(test_dir, names)
        warn_unknown_test_classes(test_dir, names)
    else:
        validate_split_fraction(test_split, "test_split")
        rng = np.random.default_rng(seed + 1)
        files, labels, t_files, t_labels = split_off(
            files, labels, test_split, rng
        )
        if t_files is None:
            t_files, t_labels = files[:0], labels[:0]
    splits = {
        "x_train": files,
        "y_train": labels,
        "x_test": t_files,
        "y_test": t_labels,
    }
    return splits, names


def _stream_image_tree(path, class_names, color_mode, image_size, opts, kw):
    splits, names = _index_image_tree(
        path, class_names, kw["test_split"], opts["seed"]
    )
    parts = split_examples(splits, opts)
    every = [f for f, _ in parts.values() if f is not None]
    shape = _image_shape(np.concatenate(every), color_mode, image_size)
    streams = {
        split: (
            tf.data.Dataset.from_tensor_slices((files, labels)),
            len(labels),
        )
        for split, (files, labels) in parts.items()
        if files is not None
    }
    return StreamingBundle(
        streams,
        names,
        f"image files in {path}",
        shape,
        prepare=_decoder(shape, image_size),
        batch_size=opts["batch_size"],
        seed=opts["seed"],
        shuffle_buffer=opts["shuffle_buffer"],
        scale=1.0 / 255.0,
        config=kw["config"],
    )


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

    The images of a class are all the image files under its folder,
    subfolders included.

    Image folders stream: only the file names are listed up front, and
    the `train`, `val` and `test` pipelines read, decode (PNG, JPEG, BMP,
    GIF) and resize each image while they are iterated, so folders larger
    than memory work. The training pipeline shuffles the file names and
    decodes in parallel. Classes are the sorted folder names unless
    `class_names` is given, and the label of an image is the index of its
    folder. The splits are disjoint sets of files chosen with `seed`.
    Numpy arrays (`.npz`, `.npy`) are loaded into memory.

    Args:
        path: The file or folder.
        image_size: `(height, width)` to resize every image to; `None`
            requires all images to share one size (checked from the file
            headers). Defaults to `None`.
        color_mode: `"auto"` keeps the channels of the first image (RGB
            at least when any image holds colour); `"grayscale"` or
            `"rgb"` converts every image. Defaults to `"auto"`.
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
        A `DatasetBundle` (a `StreamingBundle` for image folders, whose
        `arrays()` reads every image); uint8 images are scaled to
        `[0, 1]`.

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
    if os.path.isdir(path) and not os.path.isfile(
        os.path.join(path, "x_train.npy")
    ):
        kw = {"test_split": test_split, "config": config}
        return _stream_image_tree(
            path, class_names, color_mode, image_size, opts, kw
        )
    arrays, names, what = _read_path(path, class_names)
    source = f"{what} in {path}"
    return bundle_from_arrays(
        arrays, names, opts, test_split, "auto", source, config
    )


def _read_path(path, class_names):
    if os.path.isfile(path) and path.endswith(".npz"):
        found, what = _read_npz(path), "numpy arrays (.npz)"
    elif os.path.isdir(path):
        found, what = _read_npy_dir(path), "numpy arrays (.npy)"
    else:
        raise DatasetNotFoundError(
            path,
            [
                (
                    "path",
                    "is neither an .npz file nor a directory"
                    if os.path.exists(path)
                    else "does not exist",
                )
            ],
        )
    if class_names is None and "class_names" in found:
        class_names = [str(n) for n in found["class_names"]]
    arrays = [found.get(k) for k in _ARRAY_KEYS]
    return arrays, class_names, what
