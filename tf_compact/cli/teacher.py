"""Training, saving and reloading the teacher of a command-line run."""

import contextlib
import json
import os
import shutil

import keras
import tensorflow as tf
from absl import logging

from tf_compact.cli import common_flags
from tf_compact.cli import resources
from tf_compact.internal.heads import NONE
from tf_compact.internal.heads import head_kind
from tf_compact.internal.heads import is_binary
from tf_compact.internal.heads import output_width
from tf_compact.pipeline import training
from tf_compact.pipeline.epoch_log import EpochLog
from tf_compact.pipeline.store_files import changed

TEACHER_FILE = "teacher.keras"
METRICS_FILE = "teacher_metrics.json"
#: `BackupAndRestore` folder of an unfinished teacher training, under
#: --output_dir; its settings and epoch logs sit beside it.
BACKUP_DIR = os.path.join("backup", "teacher")
_BACKUP_FILES = (".settings.json", ".history.json")
LEARNING_RATE = 1e-3


def teacher_settings(
    model_name, epochs, learning_rate=LEARNING_RATE, data_settings=None
):
    """What defines a trained teacher: its model, its training, its data.

    Args:
        model_name: a name from `resources.MODELS`.
        epochs: training epochs.
        learning_rate: Adam learning rate. Defaults to `1e-3`.
        data_settings: the settings that define the data, as
            `common_flags.data_settings` returns them. Defaults to `None`.

    Returns:
        A dict of JSON values, recorded in `teacher_metrics.json`.
    """
    settings = {
        "model": model_name,
        "epochs": epochs,
        "learning_rate": learning_rate,
        **(data_settings or {}),
    }
    return json.loads(json.dumps(settings))


def train_teacher(
    bundle,
    model_name="small_cnn",
    epochs=2,
    output_dir=None,
    learning_rate=LEARNING_RATE,
    verbose=1,
    data_settings=None,
    resume=True,
    backup=True,
):
    """Trains a reference model on a dataset bundle and evaluates it.

    With an `output_dir`, the training keeps a
    `keras.callbacks.BackupAndRestore` backup in `output_dir/backup/teacher`
    (deleted when it finishes), so a call with the same settings after an
    interruption resumes at the epoch it stopped at.

    Args:
        bundle: a `tf_compact.data.DatasetBundle`.
        model_name: a name from `resources.MODELS`. Defaults to
            `"small_cnn"`.
        epochs: training epochs. Defaults to `2`.
        output_dir: where to save `teacher.keras` and
            `teacher_metrics.json`; `None` saves nothing.
            Defaults to `None`.
        learning_rate: Adam learning rate. Defaults to `1e-3`.
        verbose: Keras `fit` verbosity. Defaults to `1`.
        data_settings: the settings that define `bundle`
            (`common_flags.data_settings`), recorded with the teacher.
            Defaults to `None`.
        resume: continue from a backup of an interrupted training made
            with the same settings; with `False` a backup is deleted and
            the training starts over. Defaults to `True`.
        backup: keep a backup in `output_dir` while training (`False` on
            a process that must not write there). Defaults to `True`.

    Returns:
        A tuple `(model, metrics)`; `metrics` holds `test_accuracy`,
        `epochs`, `dataset_source`, the training history and `settings`
        (`teacher_settings`).
    """
    settings = teacher_settings(
        model_name, epochs, learning_rate, data_settings
    )
    model = resources.build_model(
        model_name, bundle.input_shape, bundle.num_classes
    )
    log, callbacks, path = None, [], None
    if output_dir and backup:
        path = os.path.join(output_dir, BACKUP_DIR)
        log, callbacks = _backup_callbacks(path, settings, resume)
    history = training.fit_classifier(
        model,
        bundle.train,
        epochs,
        val_data=bundle.val,
        learning_rate=learning_rate,
        callbacks=callbacks,
        verbose=verbose,
    )
    metrics = {
        "model": model_name,
        "epochs": epochs,
        "test_accuracy": training.accuracy(model, bundle.test),
        "dataset_source": bundle.source,
        # After a resume, `fit` returns only the epochs run since.
        "history": (log and log.history()) or history,
        "settings": settings,
    }
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        _compile_with_keras_classes(model)
        model.save(os.path.join(output_dir, TEACHER_FILE))
        with open(os.path.join(output_dir, METRICS_FILE), "w") as f:
            json.dump(metrics, f, indent=2)
    if path:
        _remove_backup(path)
    return model, metrics


def _backup_callbacks(path, settings, resume):
    """`(EpochLog, callbacks)` that make a teacher training resumable.

    A backup at `path` is resumed when `resume` is set and it was made
    with `settings`; otherwise it is deleted first.
    """
    saved = _read_json(path + _BACKUP_FILES[0])
    if saved is not None or os.path.exists(path):
        if resume and saved == settings:
            logging.info("Resuming the teacher's training from %s", path)
        else:
            why = "--noresume" if not resume else "made with other settings"
            logging.info("Deleting the teacher backup %s (%s)", path, why)
            _remove_backup(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + _BACKUP_FILES[0], "w") as f:
        json.dump(settings, f)
    log = EpochLog(path + _BACKUP_FILES[1])
    # Two checkpoints: a run killed while writing one restores the other.
    backup = keras.callbacks.BackupAndRestore(path, double_checkpoint=True)
    return log, [log, backup]


def _remove_backup(path):
    """Deletes the backup at `path`, its files, and an emptied parent."""
    shutil.rmtree(path, ignore_errors=True)
    for suffix in _BACKUP_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(path))


def _read_json(path):
    """The JSON object in `path`, or `None` if missing or unreadable."""
    try:
        with open(path) as f:
            value = json.load(f)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _compile_with_keras_classes(model):
    """Compiles the trained `model` again with Keras's own loss and
    accuracy, those its training used for the integer labels of a
    --dataset, so that the saved file loads in a script that does not
    import tf_compact (whose `LabelLoss` would otherwise be named in it).
    The optimizer, with its state, is kept."""
    if not getattr(model, "compiled", False):
        return
    kind = head_kind(model)
    logits = kind == NONE
    if is_binary(kind, output_width(model.outputs[0])):
        loss = keras.losses.BinaryCrossentropy(from_logits=logits)
        threshold = 0.0 if logits else 0.5
        metric = keras.metrics.BinaryAccuracy("accuracy", threshold=threshold)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=logits)
        metric = keras.metrics.SparseCategoricalAccuracy("accuracy")
    model.compile(optimizer=model.optimizer, loss=loss, metrics=[metric])


def _saved_metrics(output_dir):
    """The `teacher_metrics.json` of `output_dir`, `{}` if unreadable."""
    return _read_json(os.path.join(output_dir, METRICS_FILE)) or {}


def saved_epochs(output_dir):
    """The epochs of the teacher saved in `output_dir`, `None` if unknown.

    Args:
        output_dir: a directory written by `train_teacher`.

    Returns:
        The `epochs` of its `teacher_metrics.json`, or `None` when the file
        is missing or unreadable.

    Example:

    ```python
    saved_epochs("tf_compact_out")  # 9 after a default compress run
    ```
    """
    try:
        return int(_saved_metrics(output_dir)["epochs"])
    except (ValueError, KeyError, TypeError):
        return None


def load_or_train_teacher(
    bundle,
    model_name,
    epochs,
    output_dir,
    resume=True,
    data_settings=None,
    learning_rate=LEARNING_RATE,
    verbose=1,
    strategy=None,
):
    """Reloads `output_dir/teacher.keras` if made alike, else trains it.

    A saved teacher is reused only when `resume` is set and the settings
    recorded with it (`teacher_settings`) are those asked for now. A
    training interrupted earlier resumes (see `train_teacher`).

    Args:
        bundle: a `tf_compact.data.DatasetBundle`.
        model_name: a name from `resources.MODELS`.
        epochs: training epochs when the teacher must be trained.
        output_dir: the directory holding (or receiving) the teacher.
        resume: reuse a saved teacher; with `False` it is trained again
            (and overwritten). Defaults to `True`.
        data_settings: the settings that define `bundle`
            (`common_flags.data_settings`). Defaults to `None`.
        learning_rate: Adam learning rate. Defaults to `1e-3`.
        verbose: Keras `fit` verbosity. Defaults to `1`.
        strategy: the run's `tf.distribute` strategy or `None`. Under
            several workers each trains its own teacher and none keeps a
            backup, so that all start over alike after an interruption.
            Defaults to `None`.

    Returns:
        The teacher `keras.Model`.

    Raises:
        app.UsageError: if `resume` is set and the saved teacher was
            trained with other settings, or with none recorded; the
            message names the differing settings.
    """
    path = os.path.join(output_dir, TEACHER_FILE)
    wanted = teacher_settings(model_name, epochs, learning_rate, data_settings)
    if resume and os.path.exists(path):
        saved = _saved_metrics(output_dir).get("settings")
        if saved != wanted:
            raise common_flags.resume_refused(
                output_dir,
                "a teacher trained",
                None if saved is None else changed(saved, wanted),
                hint=f"--teacher_path={path} to use that teacher as it is",
            )
        logging.info("Reusing the teacher saved in %s", path)
        return keras.saving.load_model(path, compile=False)
    if os.path.exists(path):
        logging.info("Not reusing the teacher saved in %s (--noresume)", path)
    logging.info("Training a %s teacher for %d epochs", model_name, epochs)
    model, _ = train_teacher(
        bundle,
        model_name,
        epochs,
        output_dir,
        learning_rate=learning_rate,
        verbose=verbose,
        data_settings=data_settings,
        resume=resume,
        backup=not isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy
        ),
    )
    return model
