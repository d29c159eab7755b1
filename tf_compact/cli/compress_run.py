"""Running `tfc.compress` for `tf-compact compress`: the data as the
teacher takes it, and the pipeline's refusals as one-line usage errors."""

import re

from absl import app
from absl import flags

from tf_compact.cli import common_flags
from tf_compact.cli import compress_settings
from tf_compact.cli import logs

#: The flag of each argument of `compress` and its settings objects
#: whose flag has another name; the others have their argument's name.
_RENAMED = {
    "learning_rate": "kd_learning_rate",
    "tflite_modes": "tflite_mode",
    "strategy": "distribution_strategy",
}
#: Arguments whose refusal names a flag: the method flags, and the
#: training and export settings that the flags fill in.
_ARGUMENTS = {
    *(name for names in compress_settings.TAKES.values() for name in names),
    *("epochs", "finetune_epochs", "lr_schedule", "temperature"),
    *("student_loss_weight", "feature_kd", "standardize_logits", "lighten"),
    *("recalibrate_teacher", "edgetpu", "labels", "normalization"),
    *_RENAMED,
}
#: How the library words a user error (see `internal.validation`).
_INVALID = re.compile(
    r"Invalid value for argument `?(\w+)`?(?: of `[\w.]+`)?[.:]?\s*"
)


def usage_error(error):
    """The one-line `app.UsageError` of a library's user error, or `None`.

    A `ValueError` worded as the library words a bad argument ("Invalid
    value for argument `target_macs`: ...") is the user's: its message,
    on one line, names the flag of that argument (`--target_macs=0.001:
    ...`) where there is one. Any other error is not turned into a usage
    error (a bug shows its traceback).

    Args:
        error: the exception `compress` raised.

    Returns:
        An `app.UsageError`, or `None` for an error that is no user error.
    """
    text = " ".join(str(error).split())
    match = _INVALID.match(text)
    if not isinstance(error, ValueError) or match is None:
        return None
    name = match.group(1)
    flag = _RENAMED.get(name, name)
    if name not in _ARGUMENTS or flag not in flags.FLAGS:
        return app.UsageError(text)
    # The flag as given stands in front; the API's `Received:` goes.
    why = re.sub(rf"\s*Received: {name}=.*$", "", text[match.end() :])
    given = flags.FLAGS[flag].serialize() or f"--{flag}"
    return app.UsageError(f"{given}: {why}")


def run_compress(teacher, bundle, output_dir, **kwargs):
    """Runs `tf_compact.pipeline.compress(teacher, bundle, ...)`.

    A teacher that takes raw pixels (integer inputs, or `Rescaling(1 /
    255)` first) is given the bundle's stored values (see
    `data.stored_values`). The
    pipeline's warnings are logged, not repeated as Python warnings.

    Args:
        teacher: the teacher model.
        bundle: the --dataset bundle.
        output_dir: the run's --output_dir.
        **kwargs: the other arguments of `compress`.

    Raises:
        app.UsageError: (one line) when the teacher cannot take the data,
            --output_dir holds a run made with other settings, one of
            its checkpoints cannot be loaded, or the library refuses a
            setting (an unreachable --target_macs, an unknown --widths
            name; see `usage_error`).
    """
    from tf_compact.pipeline import compress
    from tf_compact.pipeline.data_prep import DataMismatchError
    from tf_compact.pipeline.store import DamagedCheckpointError
    from tf_compact.pipeline.store import SettingsMismatchError

    try:
        with logs.pipeline_warnings_hidden():
            compress(teacher, bundle, output_dir=output_dir, **kwargs)
    except DataMismatchError as error:
        raise app.UsageError(str(error)) from error
    except SettingsMismatchError as error:
        raise common_flags.resume_refused(
            output_dir, "a compress run", error.changed
        ) from error
    except DamagedCheckpointError as error:
        raise common_flags.damaged_checkpoint(error) from error
    except ValueError as error:
        usage = usage_error(error)
        if usage is None:
            raise
        raise usage from error
