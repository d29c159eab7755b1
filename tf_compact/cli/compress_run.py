"""Running `tfc.compress` for `tf-compact compress`: the data as the
teacher takes it, and the pipeline's refusals as one-line usage errors."""

from absl import app

from tf_compact.cli import common_flags
from tf_compact.cli import logs


def run_compress(teacher, bundle, output_dir, **kwargs):
    """Runs `tf_compact.pipeline.compress(teacher, bundle, ...)`.

    A teacher with integer inputs (a --teacher_path model that takes uint8
    pixels) is given the bundle's stored values (see `model_data`). The
    pipeline's warnings are logged, not repeated as Python warnings.

    Args:
        teacher: the teacher model.
        bundle: the --dataset bundle.
        output_dir: the run's --output_dir.
        **kwargs: the other arguments of `compress`.

    Raises:
        app.UsageError: (one line) when the teacher cannot take the data,
            --output_dir holds a run made with other settings, or one of
            its checkpoints cannot be loaded.
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
