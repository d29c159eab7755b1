"""absl flags shared by the `tf-compact` commands and the example scripts.

Importing this module defines the flags, so the library never imports it:
only the command modules in `tf_compact.cli` and the `examples/` scripts do.
"""

import importlib
import os
import re
import sys
import tempfile
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
IMAGE_SIZE = flags.DEFINE_string(
    "image_size",
    None,
    "HEIGHTxWIDTH (e.g. 28x28) to resize the images of a folder given as "
    "--dataset to; needed when its images differ in size.",
)
COLOR_MODE = flags.DEFINE_enum(
    "color_mode",
    "auto",
    ["auto", "grayscale", "rgb"],
    "Channels of the images of a folder given as --dataset: `auto` takes "
    "those of the first image, `grayscale` or `rgb` converts them.",
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
    "Training epochs of the commands that train; each one's help shows "
    "its default.",
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
IMPORT = flags.DEFINE_multi_string(
    "import",
    [],
    "Python module to import before any model is loaded (repeatable), "
    "e.g. --import=my_layers: one that defines the custom layers of a "
    ".keras file (registered with "
    "@keras.saving.register_keras_serializable) or registers channel "
    "handlers (tfc.register_handler). Found on PYTHONPATH or in the "
    "current directory.",
)
EDGETPU = flags.DEFINE_boolean(
    "edgetpu",
    False,
    "Coral Edge TPU: export-tflite converts for it (int8 mode only; "
    "batch 1, static shapes, uint8 I/O) and prints its Edge TPU report; "
    "benchmark-tflite runs files compiled by edgetpu_compiler on it "
    "through libedgetpu; compress also writes model_edgetpu.tflite and "
    "its Edge TPU report.",
)


def parse_image_size(value):
    """`[height, width]` of an --image_size value such as `"28x28"`.

    Args:
        value: the flag value, `HEIGHTxWIDTH`, or `None`.

    Returns:
        A list of two positive ints, or `None` for `None`.

    Raises:
        app.UsageError: if `value` is not two positive ints joined by `x`.
    """
    if value is None:
        return None
    parts = value.lower().replace(" ", "").split("x")
    if len(parts) == 2 and all(p.isdigit() and int(p) > 0 for p in parts):
        return [int(p) for p in parts]
    raise app.UsageError(
        f"--image_size={value}: expected HEIGHTxWIDTH, two positive "
        "integers joined by `x` (e.g. --image_size=28x28)."
    )


def data_settings(validation_split=0.0):
    """What defines the data `load_data` reads: the data flags and the split.

    --image_size and --color_mode are in only when given (not their
    defaults), so settings recorded before those flags existed still match.

    Args:
        validation_split: the fraction of training data held out.
            Defaults to `0.0`.

    Returns:
        A dict of JSON values: `dataset`, `data_dir`, `limit`, `seed`,
        `batch_size`, `validation_split`, and `image_size` (`[height,
        width]`) and `color_mode` when they differ from their defaults.

    Raises:
        app.UsageError: for a malformed --image_size.
    """
    settings = {
        "dataset": DATASET.value,
        "data_dir": DATA_DIR.value,
        "limit": LIMIT.value,
        "seed": SEED.value,
        "batch_size": BATCH_SIZE.value,
        "validation_split": validation_split,
    }
    image_size = parse_image_size(IMAGE_SIZE.value)
    if image_size is not None:
        settings["image_size"] = image_size
    if COLOR_MODE.value != COLOR_MODE.default:
        settings["color_mode"] = COLOR_MODE.value
    return settings


def load_data(validation_split=0.0):
    """Loads the dataset the flags name (see `data_settings`).

    Raises:
        app.UsageError: for a dataset that cannot be loaded (an unknown
            name, tensorflow-datasets missing, no source with the data);
            the message says why.
    """
    from tf_compact.data import DatasetNotFoundError

    settings = data_settings(validation_split)
    if "image_size" in settings:
        settings["image_size"] = tuple(settings["image_size"])
    try:
        return resources.load_dataset(settings.pop("dataset"), **settings)
    except (ValueError, ImportError, DatasetNotFoundError) as error:
        # A folder's refusal names the API's `path`: the flag is in front.
        text = " ".join(str(error).split())
        text = re.sub(r"^Invalid value for argument `path`[.:]\s*", "", text)
        text = re.sub(r"\s*Received: path=.*$", "", text)
        raise app.UsageError(f"--dataset={DATASET.value}: {text}") from error


def resume_refused(output_dir, what, changed, hint=None):
    """The usage error for an --output_dir holding work of other settings.

    Args:
        output_dir: the --output_dir value.
        what: what it holds, e.g. `"a compress run"`.
        changed: `{setting: (earlier value, value now)}`, or `None` when
            the earlier settings were not recorded.
        hint: another way out, e.g. `"--teacher_path=... to use it"`.
            Defaults to `None`.

    Returns:
        An `app.UsageError` (one line) naming the differing settings and
        the ways out: --noresume, or another --output_dir.
    """
    if changed is None:
        differences = "its settings were not recorded"
    else:
        differences = ", ".join(
            f"{name} {old!r} -> {new!r}"
            for name, (old, new) in sorted(changed.items())
        )
    ways = ["--noresume to start over there", "another --output_dir"]
    ways += [hint] if hint else []
    return app.UsageError(
        f"--output_dir={output_dir} holds {what} with different settings "
        f"({differences}). Pass {', '.join(ways[:-1])}, or {ways[-1]}."
    )


def check_file(flag, path):
    """Raises `app.UsageError` naming `--flag` when a local `path` does not
    exist (a remote one, `gs://...`, is left to the loader)."""
    if path and "://" not in path and not os.path.exists(path):
        raise app.UsageError(f"--{flag}={path}: no such file or folder.")


def check_writable(flag, path, folder=False, default=None):
    """Raises `app.UsageError` naming `--flag` when `path` cannot be made.

    Checked before any long work: the nearest existing folder on the path
    must be a folder that takes a new file (a path under a regular file, or
    in `/proc`, is refused even for root). A remote path is not checked.

    Args:
        flag: the flag's name, e.g. `"output"`.
        path: the file (or with `folder`, the folder) to write.
        folder: whether `path` is a folder. Defaults to `False`.
        default: for a path the flag did not give, where it comes from,
            e.g. `"next to --model_path"`. Defaults to `None`.
    """
    if not path or "://" in path:
        return
    given = f"--{flag}={path}"
    if default:
        given = f"{path} (the default --{flag}, {default})"
    target = os.path.abspath(path)
    if os.path.isdir(target) != folder and os.path.exists(target):
        kind = "a folder" if folder else "a file"
        raise app.UsageError(f"{given} is not {kind}; pass another --{flag}.")
    parent = target if folder else os.path.dirname(target)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as error:
        raise app.UsageError(
            f"{given}: cannot write in {parent} "
            f"({error.strerror or error}); pass another --{flag}."
        ) from error


def import_modules():
    """Imports the --import modules (again a no-op for imported ones).

    The current directory is searched after `sys.path`, as for a script
    run there, so `--import=my_layers` finds `./my_layers.py`.

    Raises:
        app.UsageError: (one line) naming a module that cannot be imported
            and why.
    """
    if IMPORT.value and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in IMPORT.value:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - any failure is the user's
            why = " ".join(f"{type(error).__name__}: {error}".split())
            raise app.UsageError(
                f"--import={name}: cannot import it ({why}). Pass a module "
                "name found on PYTHONPATH or in the current directory."
            ) from error


def _unreadable_model(flag, path, error):
    """The one-line usage error of a model file that failed to load."""
    missing = re.search(
        r"Could not locate (?:class|function) '([^']+)'", str(error)
    )
    if missing:
        return app.UsageError(
            f"--{flag}={path} cannot be read as a Keras model: Could not "
            f"locate class {missing.group(1)!r}. Pass --import=MODULE "
            "naming the Python module that defines it (decorated with "
            "@keras.saving.register_keras_serializable), e.g. "
            "--import=my_layers for ./my_layers.py."
        )
    return app.UsageError(
        f"--{flag}={path} cannot be read as a Keras model: {error}"
    )


def load_keras_model(flag, path):
    """The Keras model saved at `path`, given by `--flag`, uncompiled.

    The --import modules are imported first, so the custom classes they
    register can be deserialized.

    Raises:
        app.UsageError: naming the flag, when there is no such file, a
            `.keras` file is not a zip archive, an --import module cannot
            be imported, or the file cannot be read as a Keras model
            (naming --import for a class it lacks).
    """
    import keras

    check_file(flag, path)
    import_modules()
    local = "://" not in path and os.path.isfile(path)
    if local and path.endswith(".keras") and not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            hdf5 = f.read(8) == b"\x89HDF\r\n\x1a\n"
        kind = (
            "an HDF5 file (the legacy `.h5` format): give it the `.h5` "
            "suffix, which Keras reads by its name"
            if hdf5
            else "not a Keras zip archive (the `.keras` file `model.save` "
            "writes)"
        )
        raise app.UsageError(
            f"--{flag}={path} cannot be read as a Keras model: the file "
            f"is {kind}."
        )
    try:
        return keras.saving.load_model(path, compile=False)
    except (
        OSError,
        ValueError,
        TypeError,
        KeyError,
        zipfile.BadZipFile,
    ) as error:
        raise _unreadable_model(flag, path, error) from error


def epochs_or(default):
    """The --epochs value, or `default` when the flag was not given."""
    return default if EPOCHS.value is None else EPOCHS.value


def damaged_checkpoint(error):
    """The usage error for a checkpoint in --output_dir that cannot be
    loaded (a `DamagedCheckpointError`): one line naming the file and the
    ways out."""
    return app.UsageError(
        f"{error.path} cannot be loaded ({error.__cause__}): rerun with "
        "--noresume to start over, or use another --output_dir."
    )
