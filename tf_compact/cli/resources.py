"""Datasets and reference models reached by name from the command line."""

DATASETS = ("builtin", "fashion_mnist", "mnist", "cifar10", "digits")
MODELS = ("small_cnn", "vgg", "resnet20", "mobilenet_v2")


def load_dataset(name, batch_size=128, data_dir=None, limit=None, **kwargs):
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
        **kwargs: passed on to `tf_compact.data.load`.

    Returns:
        A `tf_compact.data.DatasetBundle`.

    Raises:
        ValueError: for a name neither in `DATASETS` nor in
            tensorflow-datasets.
        ImportError: for another name without tensorflow-datasets.
        tf_compact.data.DatasetNotFoundError: if no source has the data
            (the message says how to get it).
    """
    import os

    from tf_compact import data

    looks_like_path = os.sep in name.replace("/", os.sep) and (
        name.startswith((".", "~", os.sep)) or name.lower().endswith(".npz")
    )
    if looks_like_path and not os.path.exists(os.path.expanduser(name)):
        raise ValueError(
            f"no folder or file {name!r} (a path given as the dataset must "
            "exist: a folder of class folders of images, or an .npz file)."
        )
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
            name, batch_size=batch_size, limit=limit, **kwargs
        )
    return data.load(
        name, batch_size=batch_size, data_dir=data_dir, limit=limit, **kwargs
    )


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
