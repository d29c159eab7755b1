"""absl flags shared by the `tf-compact` commands and the example scripts.

Importing this module defines the flags, so the library never imports it:
only the command modules in `tf_compact.cli` and the `examples/` scripts do.
"""

import os
import zipfile

from absl import app
from absl import flags

from tf_compact.cli import resources

DATASET = flags.DEFINE_string(
    "dataset",
    "builtin",
    "Dataset to train and evaluate on. `builtin` is the Fashion-MNIST "
    "subset shipped with the package (works offline); `fashion_mnist` "
    "reads the full set (tensorflow-datasets or the Debian package "
    "files); `mnist` and `cifar10` need prepared tfds data or "
    "--data_dir; `digits` uses scikit-learn. Any other "
    "tensorflow-datasets name (`beans`, `mnist_corrupted/shot_noise`) "
    "streams from tfds (the `tfds` extra; downloads only with "
    "TF_COMPACT_DOWNLOAD=1). A folder path reads images in class "
    "subfolders (or saved arrays) with tf_compact.data.from_folder.",
)
DATA_DIR = flags.DEFINE_string(
    "data_dir",
    None,
    "Folder with the raw dataset files or a tfds data directory.",
)
LIMIT = flags.DEFINE_integer(
    "limit",
    None,
    "Use at most this many training and test examples (quick runs).",
    lower_bound=1,
)
MODEL = flags.DEFINE_enum(
    "model",
    "small_cnn",
    sorted(resources.MODELS),
    "Reference architecture of the teacher (tf_compact.models).",
)
EPOCHS = flags.DEFINE_integer(
    "epochs",
    None,
    "Training epochs; each command documents its default.",
    lower_bound=0,
)
BATCH_SIZE = flags.DEFINE_integer(
    "batch_size", 128, "Examples per training batch.", lower_bound=1
)
OUTPUT_DIR = flags.DEFINE_string(
    "output_dir",
    "tf_compact_out",
    "Directory for models, TFLite files and reports. Its backup/ folder "
    "holds Keras BackupAndRestore training state, so an interrupted run "
    "resumes; delete it, or pass --noresume to compress, to start over.",
)
SEED = flags.DEFINE_integer("seed", 0, "Random seed for data and weights.")
EDGETPU = flags.DEFINE_boolean(
    "edgetpu",
    False,
    "Coral Edge TPU: export-tflite converts for it (int8 mode only; "
    "batch 1, static shapes, uint8 I/O) and prints its Edge TPU report; "
    "benchmark-tflite runs files compiled by edgetpu_compiler on it "
    "through libedgetpu; compress also writes model_edgetpu.tflite and "
    "its Edge TPU report.",
)


def load_data(validation_split=0.0):
    """Loads the dataset the flags name.

    Raises:
        app.UsageError: for a dataset that cannot be loaded (an unknown
            name, tensorflow-datasets missing, no source with the data);
            the message says why.
    """
    from tf_compact.data import DatasetNotFoundError

    try:
        return resources.load_dataset(
            DATASET.value,
            batch_size=BATCH_SIZE.value,
            data_dir=DATA_DIR.value,
            limit=LIMIT.value,
            seed=SEED.value,
            validation_split=validation_split,
        )
    except (ValueError, ImportError, DatasetNotFoundError) as error:
        raise app.UsageError(f"--dataset={DATASET.value}: {error}") from error


def check_file(flag, path):
    """Raises `app.UsageError` naming `--flag` when a local `path` does not
    exist (a remote one, `gs://...`, is left to the loader)."""
    if path and "://" not in path and not os.path.exists(path):
        raise app.UsageError(f"--{flag}={path}: no such file or folder.")


def load_keras_model(flag, path):
    """The Keras model saved at `path`, given by `--flag`, uncompiled.

    Raises:
        app.UsageError: naming the flag, when there is no such file or it
            cannot be read as a Keras model.
    """
    import keras

    check_file(flag, path)
    try:
        return keras.saving.load_model(path, compile=False)
    except (
        OSError,
        ValueError,
        TypeError,
        KeyError,
        zipfile.BadZipFile,
    ) as error:
        raise app.UsageError(
            f"--{flag}={path} cannot be read as a Keras model: {error}"
        ) from error


def epochs_or(default):
    """The --epochs value, or `default` when the flag was not given."""
    return default if EPOCHS.value is None else EPOCHS.value
