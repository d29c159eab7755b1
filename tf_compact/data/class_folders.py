"""The class folders of an image folder: their names, their image files,
and the check that each holds an image."""

import os

import numpy as np

from tf_compact.internal.user_warning import warn

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def class_dirs(path):
    """The sorted names of the folders in `path` (hidden ones left out)."""
    return sorted(
        d
        for d in os.listdir(path)
        if os.path.isdir(os.path.join(path, d)) and not d.startswith(".")
    )


def list_images(path, class_names):
    """`(files, labels)`: the image files under each class folder of `path`
    and the index of its class in `class_names` (a missing folder has no
    files)."""
    files, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(path, name)
        if not os.path.isdir(folder):
            continue
        # Images in subfolders of a class folder belong to that class (as
        # with `keras.utils.image_dataset_from_directory`).
        for root, dirs, names in os.walk(folder):
            dirs.sort()
            for f in sorted(names):
                if f.lower().endswith(IMAGE_EXTENSIONS):
                    files.append(os.path.join(root, f))
                    labels.append(label)
    return np.asarray(files, dtype=str), np.asarray(labels, dtype=np.int32)


def refuse_empty_classes(path, folder, names, labels):
    """Raises for class folders (in `folder`) that hold no image.

    Each would silently become a class with no example, and a model output
    that never trains. Classes named by `class_names` are not checked: a
    label order given on purpose may list classes with no images.
    """
    counts = np.bincount(labels, minlength=len(names))
    empty = [os.path.join(folder, n) for n, c in zip(names, counts) if not c]
    if not empty:
        return
    many = len(empty) > 1
    raise ValueError(
        f"Invalid value for argument `path`: the class folder"
        f"{'s' if many else ''} {', '.join(empty)} hold{'' if many else 's'} "
        f"no image files ({', '.join(IMAGE_EXTENSIONS)}), so "
        f"{'each' if many else 'it'} would become a class with no "
        f"examples. Remove {'those folders' if many else 'that folder'}, "
        f"or add images to {'them' if many else 'it'}. Received: "
        f"path={path!r}"
    )


def warn_unknown_test_classes(test_dir, names):
    """Warns about class folders of `test/` that `train/` does not have:
    their images are not read."""
    unknown = sorted(set(class_dirs(test_dir)) - set(names))
    if unknown:
        warn(
            f"tf_compact.data.from_folder: {test_dir} holds class folders "
            f"{unknown} that the training classes {names} do not have; "
            "their images are left out of the test split."
        )
