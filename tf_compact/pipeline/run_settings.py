"""The settings of a `compress` run: checked, and recorded as one dict.

The dict is what the stages read (`ctx.settings`), what the report shows
and what the `StageStore` compares before it resumes a run: the method's
name and its whole config, the shared `Training` and `Export` settings,
the epochs, the teacher's name and weight fingerprint and the data's
shapes. A resume with any of them changed is refused, unless only export
settings changed (`export_settings`): then the export stages run again.
"""

import hashlib
import os

import keras
import numpy as np

from tf_compact.internal import distribute
from tf_compact.internal.validation import validate_int
from tf_compact.methods.registry import get as get_method
from tf_compact.methods.settings import Export
from tf_compact.methods.settings import Training
from tf_compact.pipeline.pruning_stages import check_widths
from tf_compact.pruning.validation import validate_known_latency
from tf_compact.pruning.validation import validate_known_macs


def check_arguments(method, epochs, training, export, callbacks, strategy):
    """Checks `compress`'s arguments; returns them resolved.

    Returns:
        `(method, epochs, training, export, callbacks, strategy)`: the
        method that runs (a name or `Auto` resolved), `epochs` as an int,
        `Training()` and `Export()` for `None`, the callbacks as a list,
        and the strategy: `None` for `None`/`"none"`, else the
        `tf.distribute.Strategy` that `resolve_strategy` makes of a name
        (`"mirrored"`, `"multi_worker"`) or returns as given.

    Raises:
        ValueError, TypeError: for an invalid argument, named.
    """
    method = get_method(method)
    epochs = validate_int("epochs", epochs, minimum=0)
    training = _instance("training", training, Training)
    export = _instance("export", export, Export)
    callbacks = list(callbacks or ())
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError(
                "Invalid value for argument `callbacks`. Expected a list "
                "of `keras.callbacks.Callback`. Received: "
                f"callbacks={callbacks!r}"
            )
    return method, epochs, training, export, callbacks, _strategy(strategy)


def _strategy(strategy):
    if strategy is None or (
        isinstance(strategy, str)
        and distribute.strategy_key(strategy) == distribute.NONE
    ):
        return None
    return distribute.resolve_strategy(strategy)


def writer_output_dir(output_dir, strategy):
    """Where this process writes the run's files.

    Under `MultiWorkerMirroredStrategy` every worker runs the whole
    pipeline; only the chief (`distribute.is_chief`) writes `output_dir`,
    the others write their copy of the same models to
    `output_dir/workertemp_<task>_<id>` (as Keras's `BackupAndRestore`
    keeps a worker's backups), so workers never overwrite each other's
    files, and a rerun of the same command finds each worker's finished
    stages where it left them: every worker resumes at the same stage.

    Args:
        output_dir: the `output_dir` given to `compress`, or `None`.
        strategy: the resolved strategy, or `None`.

    Returns:
        `output_dir`, or the worker's folder inside it on a non-chief
        worker.

    Example:

    ```python
    writer_output_dir("run", None)  # "run"
    ```
    """
    if output_dir is None or strategy is None:
        return output_dir
    if distribute.is_chief(strategy):
        return output_dir
    resolver = strategy.cluster_resolver
    task = f"workertemp_{resolver.task_type}_{resolver.task_id}"
    return os.path.join(output_dir, task)


def _instance(name, value, cls):
    if value is None:
        return cls()
    if not isinstance(value, cls):
        raise TypeError(
            f"Invalid value for argument `{name}`. Expected None or a "
            f"`tfc.methods.{cls.__name__}`. Received: {name}={value!r}"
        )
    return value


def run_settings(teacher, method, epochs, training, export):
    """The settings dict of a run (data settings are added by `compress`).

    Hand-chosen `widths` are checked against the teacher and the targets
    here, before any training, when nothing is lightened; so are MACs and
    latency targets, refused for a teacher whose input takes any size
    (`keras.Input((None, None, 3))`): both depend on that size.

    Args:
        teacher: the teacher model.
        method: the resolved `tfc.methods` object.
        epochs: the method's training epochs.
        training: the `tfc.methods.Training`.
        export: the `tfc.methods.Export`.

    Returns:
        A JSON-able dict.

    Raises:
        ValueError: for `widths` that do not fit the teacher or miss a
            target, or a `target_macs` or `target_latency` for a teacher
            whose input takes any size.
    """
    config = method.get_config()
    validate_known_macs(teacher, config.get("target_macs"))
    validate_known_latency(teacher, config.get("target_latency"))
    if config.get("widths") and not training.transforms:
        check_widths(teacher, teacher, config["widths"], config)
    exported = export.get_config()
    exported.pop("baselines")
    # Only a run that asks for them records these: runs from before the
    # settings existed still resume.
    if not exported["edgetpu"]:
        exported.pop("edgetpu")
    for key in ("labels", "normalization"):
        if exported[key] == "auto":
            exported.pop(key)
    return {
        "teacher": teacher.name,
        "teacher_fingerprint": fingerprint(teacher),
        "method": method.name,
        **config,
        "epochs": epochs,
        **training.get_config(),
        **exported,
    }


#: The settings only the export stages read, under the first stage that
#: reads each (the stages after it run again with it), in run order.
EXPORT_SETTINGS = {
    "tflite": ("tflite_modes", "edgetpu", "labels", "normalization"),
    "benchmark": ("num_threads", "benchmark_runs"),
}


def export_settings(settings, stage_names):
    """The settings a resume may change by running export stages again.

    Args:
        settings: the run's settings dict.
        stage_names: the names of the stages the run has.

    Returns:
        `{stage: setting names}` of the `EXPORT_SETTINGS` stages in
        `stage_names`, for `StageStore(export_settings=...)`. With a
        `target_latency`, `num_threads` also times the pruning, so it is
        left out (a change of it refuses the resume).

    Example:

    ```python
    export_settings({"epochs": 2}, ["finetune", "benchmark"])
    # {"benchmark": ("num_threads", "benchmark_runs")}
    ```
    """
    latency = settings.get("target_latency") is not None
    return {
        stage: tuple(
            key for key in keys if not (latency and key == "num_threads")
        )
        for stage, keys in EXPORT_SETTINGS.items()
        if stage in stage_names
    }


def fingerprint(model):
    """A short hash of the model's weights: a retrained teacher differs."""
    digest = hashlib.sha1()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]
