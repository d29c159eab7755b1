"""The settings of a `compress` run: checked, and recorded as one dict.

The dict is what the stages read (`ctx.settings`), what the report shows
and what the `StageStore` compares before it resumes a run: the method's
name and its whole config, the shared `Training` and `Export` settings,
the epochs, the teacher's name and weight fingerprint and the data's
shapes. A resume with any of them changed is refused.
"""

import hashlib

import keras
import numpy as np

from tf_compact.internal.validation import validate_int
from tf_compact.methods.registry import get as get_method
from tf_compact.methods.settings import Export
from tf_compact.methods.settings import Training
from tf_compact.pipeline.pruning_stages import check_widths


def check_arguments(method, epochs, training, export, callbacks, strategy):
    """Checks `compress`'s arguments; returns them resolved.

    Returns:
        `(method, epochs, training, export, callbacks)`: the method that
        runs (a name or `Auto` resolved), `epochs` as an int, `Training()`
        and `Export()` for `None`, and the callbacks as a list.

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
    if strategy is not None and not hasattr(strategy, "scope"):
        raise TypeError(
            "Invalid value for argument `strategy`. Expected None or a "
            "`tf.distribute.Strategy`. Received: "
            f"strategy={strategy!r}"
        )
    return method, epochs, training, export, callbacks


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
    here, before any training, when nothing is lightened.

    Args:
        teacher: the teacher model.
        method: the resolved `tfc.methods` object.
        epochs: the method's training epochs.
        training: the `tfc.methods.Training`.
        export: the `tfc.methods.Export`.

    Returns:
        A JSON-able dict.
    """
    config = method.get_config()
    if config.get("widths") and not training.transforms:
        check_widths(teacher, teacher, config["widths"], config)
    exported = export.get_config()
    exported.pop("baselines")
    return {
        "teacher": teacher.name,
        "teacher_fingerprint": fingerprint(teacher),
        "method": method.name,
        **config,
        "epochs": epochs,
        **training.get_config(),
        **exported,
    }


def fingerprint(model):
    """A short hash of the model's weights: a retrained teacher differs."""
    digest = hashlib.sha1()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]
