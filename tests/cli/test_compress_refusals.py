"""What the library refuses during `tf-compact compress` (an unreachable
budget, an unknown --widths name) is a one-line usage error that names
the flag, with no traceback; a genuine bug still shows its traceback."""

import keras
import pytest
from absl import app
from absl.testing import flagsaver

from tf_compact.cli import compress
from tf_compact.cli import compress_run

#: A one-shot run on 64 built-in images that trains nothing.
_RUN = {
    "limit": "64",
    "batch_size": "64",
    "epochs": "0",
    "finetune_epochs": "0",
    "method": "oneshot",
    "tflite_mode": ["float32"],
}


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory):
    """A tiny Conv-BN-ReLU-GAP-Dense classifier of the built-in images."""
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(8, 3, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    path = str(tmp_path_factory.mktemp("teacher") / "tiny.keras")
    keras.Model(inputs, outputs).save(path)
    return path


@pytest.mark.parametrize(
    "changes, start",
    [
        ({"target_macs": "0.001"}, "--target_macs=0.001: the student cannot"),
        (
            {"target_params": "10", "target_macs": "0"},
            "--target_params=10: the student cannot",
        ),
        (
            {"target_latency": "0.00001", "round_to": "8"},
            "--target_latency=1e-05: the model cannot be pruned to",
        ),
        (
            {"widths": "nolayer=8"},
            "--widths=nolayer=8: no channel group or producer layer named",
        ),
    ],
)
def test_a_setting_the_library_refuses_is_a_usage_error_naming_the_flag(
    teacher_path, tmp_path, changes, start
):
    out = str(tmp_path)
    flag_values = {**_RUN, **changes, "teacher_path": teacher_path}
    with (
        flagsaver.as_parsed(**flag_values, output_dir=out),
        pytest.raises(app.UsageError) as error,
    ):
        compress.main(["compress"])
    message = str(error.value)
    assert message.startswith(start), message
    assert "\n" not in message and "argument" not in message
    assert "Received:" not in message


def test_other_errors_of_the_library_are_not_usage_errors():
    # A user error of an argument with no flag keeps its words.
    error = ValueError("Invalid value for argument `train_data`. Expected x.")
    usage = compress_run.usage_error(error)
    assert isinstance(usage, app.UsageError) and str(usage) == str(error)
    # Any other error is a bug: no usage error hides its traceback.
    assert compress_run.usage_error(ValueError("shapes (2,) and (3,)")) is None
    assert (
        compress_run.usage_error(TypeError("Invalid value for argument `x`"))
        is None
    )


def _saved(tmp_path, shape, classes):
    """A `.keras` classifier of `shape` inputs and `classes` units."""
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    path = str(tmp_path / "model.keras")
    keras.Model(inputs, keras.layers.Dense(classes)(x)).save(path)
    return path


def test_a_teacher_with_fewer_units_than_classes_is_named_with_its_flags(
    tmp_path,
):
    # (A teacher taking other images: tests/cli/test_reruns.py.)
    path = _saved(tmp_path, (28, 28, 1), 3)
    words = "has 3 output units but --dataset=builtin holds 10 classes"
    flag_values = {**_RUN, "teacher_path": path, "dataset": "builtin"}
    with (
        flagsaver.as_parsed(**flag_values, output_dir=str(tmp_path / "o")),
        pytest.raises(app.UsageError, match=words) as error,
    ):
        compress.main(["compress"])
    assert str(error.value).startswith(f"--teacher_path={path}")
