"""Training, saving and reloading the teacher of a command-line run."""

import json
import os

import keras
from absl import logging

from tf_compact.cli import resources
from tf_compact.pipeline import training

TEACHER_FILE = "teacher.keras"
METRICS_FILE = "teacher_metrics.json"


def train_teacher(
    bundle,
    model_name="small_cnn",
    epochs=2,
    output_dir=None,
    learning_rate=1e-3,
    verbose=1,
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

    Returns:
        A tuple `(model, metrics)`; `metrics` holds `test_accuracy`,
        `epochs`, `dataset_source` and the training history.
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
    }
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        model.save(os.path.join(output_dir, TEACHER_FILE))
        with open(os.path.join(output_dir, METRICS_FILE), "w") as f:
            json.dump(metrics, f, indent=2)
    return model, metrics


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
        with open(os.path.join(output_dir, METRICS_FILE)) as f:
            return int(json.load(f)["epochs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_or_train_teacher(bundle, model_name, epochs, output_dir, **kwargs):
    """Reloads `output_dir/teacher.keras` when present, else trains it.

    Args:
        bundle: a `tf_compact.data.DatasetBundle`.
        model_name: a name from `resources.MODELS`.
        epochs: training epochs when the teacher must be trained.
        output_dir: the directory holding (or receiving) the teacher.
        **kwargs: passed on to `train_teacher`.

    Returns:
        The teacher `keras.Model`.
    """
    path = os.path.join(output_dir, TEACHER_FILE)
    if os.path.exists(path):
        logging.info("Reusing the teacher saved in %s", path)
        return keras.saving.load_model(path, compile=False)
    logging.info("Training a %s teacher for %d epochs", model_name, epochs)
    model, _ = train_teacher(bundle, model_name, epochs, output_dir, **kwargs)
    return model
