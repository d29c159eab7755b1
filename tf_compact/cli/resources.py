"""Datasets and reference models reached by name from the command line."""

import os
import re

DATASETS = ("builtin", "fashion_mnist", "mnist", "cifar10", "digits")
MODELS = ("small_cnn", "vgg", "resnet20", "mobilenet_v2")


def load_dataset(
    name,
    batch_size=128,
    data_dir=None,
    limit=None,
    image_size=None,
    color_mode="auto",
    **kwargs,
):
    """Loads a dataset bundle with `tf_compact.data.load`.

    Args:
        name: one of `DATASETS`, any tensorflow-datasets name (streamed;
            needs the `tfds` extra, downloads with `TF_COMPACT_DOWNLOAD=1`),
            or the path of a folder or `.npz` file that
            `tf_compact.data.from_folder` reads (images in class
            subfolders, or saved arrays).
        batch_size: examples per batch. Defaults to `128`.
        data_dir: folder with raw files or a tfds data directory.
            Defaults to `None`.
        limit: cap on training and test examples. Defaults to `None`.
        image_size: `(height, width)` to resize the images of a folder to.
            Defaults to `None`.
        color_mode: `"auto"`, `"grayscale"` or `"rgb"`, for the images of
            a folder. Defaults to `"auto"`.
        **kwargs: passed on to `tf_compact.data.load`.

    Returns:
        A `tf_compact.data.DatasetBundle`.

    Raises:
        ValueError: for a name neither in `DATASETS` nor in
            tensorflow-datasets, a path that does not exist (one ending
            in `/`, say), or `image_size` or `color_mode` given with a
            named dataset.
        ImportError: for another name without tensorflow-datasets.
        tf_compact.data.DatasetNotFoundError: if no source has the data
            (the message says how to get it, with the command line's
            --data_dir and TF_COMPACT_DOWNLOAD).
    """
    from tf_compact import data
    from tf_compact.data.errors import DatasetNotFoundError

    missing = (
        f"no folder or file {name!r} (a path given as the dataset must "
        "exist: a folder of class folders of images, or an .npz file)"
    )
    looks_like_path = name.startswith((".", "~", "/", os.sep)) or (
        name.endswith(("/", os.sep)) or name.lower().endswith(".npz")
    )
    if looks_like_path and not os.path.exists(os.path.expanduser(name)):
        raise ValueError(missing + ".")
    name = os.path.expanduser(name)
    if os.path.isdir(name) or (
        name.lower().endswith(".npz") and os.path.isfile(name)
    ):
        if data_dir is not None:
            raise ValueError(
                "--data_dir applies to named datasets, not to a folder "
                f"given as the dataset. Received: data_dir={data_dir!r}"
            )
        return data.from_folder(
            name,
            batch_size=batch_size,
            limit=limit,
            image_size=image_size,
            color_mode=color_mode,
            **kwargs,
        )
    if image_size is not None or color_mode != "auto":
        raise ValueError(
            "--image_size and --color_mode apply to a folder given as the "
            f"dataset, not to a named dataset. Received: image_size="
            f"{image_size!r}, color_mode={color_mode!r}"
        )
    try:
        return data.load(
            name,
            batch_size=batch_size,
            data_dir=data_dir,
            limit=limit,
            **kwargs,
        )
    except ValueError as error:
        if "/" not in name and os.sep not in name:
            raise
        raise _missing_path(name, missing) from error
    except DatasetNotFoundError as error:
        raise DatasetNotFoundError(
            error.name,
            [
                (_cli_text(src, name), _cli_text(why, name))
                for src, why in error.attempts
            ],
            _cli_text(error.hint, name),
        ) from error


def _missing_path(name, missing):
    """The one error of a `some/photos` name that neither exists nor loads
    from tensorflow-datasets: it may be a tfds `name/config` or a mistyped
    folder, and a path whose first folder exists is a folder."""
    first = re.split(r"[/\\]", name)[0]
    if os.path.isdir(first) or name.count("/") > 1:
        return ValueError(missing + ".")
    return ValueError(
        f"{missing}, nor a tensorflow-datasets name/config "
        "(`tfds.list_builders()` lists the names)."
    )


#: How the loaders' advice, written for Python callers, reads on the
#: command line (no --download or --source flags: an environment
#: variable allows downloads).
_CLI_SPELLINGS = (
    (re.compile(r" \[source='\w+'\]"), ""),
    (
        re.compile(r"pass download=True or source='tfds', or set "),
        "set ",
    ),
    (
        re.compile(r"`tf_compact\.data\.load\('[^']*', download=True\)`"),
        "`TF_COMPACT_DOWNLOAD=1 tf-compact train-teacher --dataset={name} "
        "--epochs=0`",
    ),
    (re.compile(r"files in data_dir"), "files in --data_dir"),
    (re.compile(r"`download=True`"), "TF_COMPACT_DOWNLOAD=1"),
    (re.compile(r"`data_dir=`"), "--data_dir"),
    (re.compile(r"no `data_dir` given"), "no --data_dir given"),
    (re.compile(r"`tf_compact\.data\.builtin\(\)`"), "--dataset=builtin"),
)


def _cli_text(text, name):
    """A loader's message with the command line's spellings."""
    if text is None:
        return None
    for pattern, replacement in _CLI_SPELLINGS:
        spelled = replacement.replace("{name}", name)
        text = pattern.sub(lambda _, s=spelled: s, text)
    return text


def build_model(name, input_shape, num_classes, width_multiplier=1.0):
    """Builds a reference model from `tf_compact.models` by name.

    Args:
        name: one of `MODELS` (`resnet20` is `models.resnet(depth=20)`).
        input_shape: the input shape without the batch axis.
        num_classes: number of output classes.
        width_multiplier: channel width factor. Defaults to `1.0`.

    Returns:
        A new, untrained Functional `keras.Model`.

    Raises:
        ValueError: if `name` is not one of `MODELS`.
    """
    from tf_compact import models

    if name not in MODELS:
        raise ValueError(
            "Invalid value for argument `name`. Expected one of "
            f"{MODELS}. Received: name={name!r}"
        )
    kwargs = {
        "input_shape": tuple(input_shape),
        "num_classes": num_classes,
        "width_multiplier": width_multiplier,
    }
    if name == "resnet20":
        return models.resnet(depth=20, **kwargs)
    return getattr(models, name)(**kwargs)
