"""Mistakes on the command line are one-line usage errors raised before
the long work: data that does not fit the model, signature names that do
not match it, output locations that cannot be written."""

import pytest
from absl import app
from absl.testing import flagsaver

from tests.cli.conftest import gap_classifier_files
from tf_compact import lite
from tf_compact.cli import benchmark_tflite
from tf_compact.cli import compress
from tf_compact.cli import export_tflite
from tf_compact.cli import train_teacher


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    """A `.keras` file of a 64x64x3-input classifier, and its float32
    `.tflite` file."""
    root = tmp_path_factory.mktemp("rgb_model")
    return gap_classifier_files(root, (64, 64, 3), "rgb64")


@pytest.fixture
def no_conversion(monkeypatch):
    """Fails a test that reaches the conversion."""

    def convert(*args, **kwargs):
        raise AssertionError("converted before the usage error")

    monkeypatch.setattr(lite, "convert", convert)


def _export(**flag_values):
    with flagsaver.flagsaver(**flag_values):
        export_tflite.main(["export-tflite"])


def test_int8_export_on_data_the_model_cannot_take(
    rgb_model, tmp_path, no_conversion
):
    path, _ = rgb_model
    output = str(tmp_path / "m.tflite")
    with pytest.raises(app.UsageError) as error:
        _export(model_path=path, mode="int8", output=output)
    message = str(error.value)
    assert message.startswith(f"--model_path={path} takes 64x64x3 inputs")
    assert "--dataset=builtin gives 28x28x1" in message
    assert "--dataset=<folder or name>" in message
    assert "--image_size=" in message and "\n" not in message


def test_benchmark_accuracy_on_data_the_file_cannot_take(rgb_model):
    _, tflite = rgb_model
    with (
        flagsaver.flagsaver(tflite=[tflite], accuracy=True, runs=1),
        pytest.raises(app.UsageError) as error,
    ):
        benchmark_tflite.main(["benchmark-tflite"])
    message = str(error.value)
    assert message.startswith(f"--tflite={tflite} takes 64x64x3 inputs")
    assert "--dataset=builtin gives 28x28x1" in message


@pytest.mark.parametrize(
    "names, expected",
    [
        ({"input_names": ["a", "b"]}, "--input_names=a,b: the model has 1 "),
        ({"output_names": ["x", "y"]}, "--output_names=x,y: the model has 1"),
    ],
)
def test_names_that_do_not_match_the_model(
    rgb_model, tmp_path, no_conversion, names, expected
):
    path, _ = rgb_model
    output = str(tmp_path / "m.tflite")
    with pytest.raises(app.UsageError) as error:
        _export(model_path=path, mode="float32", output=output, **names)
    assert str(error.value).startswith(expected)
    assert "give 1 comma-separated name" in str(error.value)


@pytest.mark.parametrize("mode", ["float32", "float16", "dynamic"])
@pytest.mark.parametrize("inference_io", ["int8", "uint8"])
def test_integer_io_without_int8_mode(
    rgb_model, tmp_path, no_conversion, mode, inference_io
):
    path, _ = rgb_model
    output = str(tmp_path / "m.tflite")
    with pytest.raises(app.UsageError) as error:
        _export(
            model_path=path, mode=mode, inference_io=inference_io, output=output
        )
    assert (
        str(error.value) == f"--inference_io={inference_io} needs --mode=int8."
    )


def _under_a_file(tmp_path, name):
    blocker = tmp_path / "labels.txt"
    blocker.write_text("a\n")
    return str(blocker / name)


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_an_output_that_cannot_be_written(
    rgb_model, tmp_path, no_conversion, where
):
    path, _ = rgb_model
    if where == "proc":
        output = "/proc/tf_compact_test.tflite"
    else:
        output = _under_a_file(tmp_path, "m.tflite")
    with pytest.raises(app.UsageError) as error:
        _export(model_path=path, mode="float32", output=output)
    message = str(error.value)
    assert message.startswith(f"--output={output}: cannot write in ")
    assert message.endswith("pass another --output.")


def test_an_output_that_is_a_folder(rgb_model, tmp_path, no_conversion):
    path, _ = rgb_model
    with pytest.raises(app.UsageError, match="is not a file"):
        _export(model_path=path, mode="float32", output=str(tmp_path))


@pytest.mark.parametrize("command", [compress, train_teacher])
@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_an_output_dir_that_cannot_be_made(
    tmp_path, monkeypatch, command, where
):
    from tf_compact.cli import common_flags

    def load_data(*args, **kwargs):
        raise AssertionError("loaded the data before the usage error")

    monkeypatch.setattr(common_flags, "load_data", load_data)
    out = "/proc/tf_compact_out" if where == "proc" else None
    out = out or _under_a_file(tmp_path, "out")
    with (
        flagsaver.flagsaver(output_dir=out),
        pytest.raises(app.UsageError) as error,
    ):
        command.main(["command"])
    message = str(error.value)
    assert message.startswith(f"--output_dir={out}: cannot write in ")
    assert message.endswith("pass another --output_dir.")
