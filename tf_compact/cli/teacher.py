"""Training, saving and reloading the teacher of a command-line run."""

import json
import os

import keras
from absl import logging

from tf_compact.cli import common_flags
from tf_compact.cli import resources
from tf_compact.pipeline import training
from tf_compact.pipeline.store_files import changed

TEACHER_FILE = "teacher.keras"
METRICS_FILE = "teacher_metrics.json"
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
):
    """Trains a reference model on a dataset bundle and evaluates it.

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

    Returns:
        A tuple `(model, metrics)`; `metrics` holds `test_accuracy`,
        `epochs`, `dataset_source`, the training history and `settings`
        (`teacher_settings`).
    """
    model = resources.build_model(
        model_name, bundle.input_shape, bundle.num_classes
    )
    history = training.fit_classifier(
        model,
        bundle.train,
        epochs,
        val_data=bundle.val,
        learning_rate=learning_rate,
        verbose=verbose,
    )
    metrics = {
        "model": model_name,
        "epochs": epochs,
        "test_accuracy": training.accuracy(model, bundle.test),
        "dataset_source": bundle.source,
        "history": history,
        "settings": teacher_settings(
            model_name, epochs, learning_rate, data_settings
        ),
    }
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        model.save(os.path.join(output_dir, TEACHER_FILE))
        with open(os.path.join(output_dir, METRICS_FILE), "w") as f:
            json.dump(metrics, f, indent=2)
    return model, metrics


def _saved_metrics(output_dir):
    """The `teacher_metrics.json` of `output_dir`, `{}` if unreadable."""
    try:
        with open(os.path.join(output_dir, METRICS_FILE)) as f:
            metrics = json.load(f)
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


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
):
    """Reloads `output_dir/teacher.keras` if made alike, else trains it.

    A saved teacher is reused only when `resume` is set and the settings
    recorded with it (`teacher_settings`) are those asked for now.

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
    )
    return model
