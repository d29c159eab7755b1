"""Ctrl-C stops a command with one line saying what is kept, and exit
status 130, instead of a KeyboardInterrupt traceback."""

import os
import textwrap

import pytest
from absl.testing import flagsaver

from tests.cli.conftest import gap_classifier_files
from tests.python_child import run_python
from tf_compact import lite
from tf_compact import pipeline
from tf_compact.cli import benchmark_tflite
from tf_compact.cli import compress
from tf_compact.cli import export_tflite
from tf_compact.cli import teacher
from tf_compact.cli import train_teacher


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A `.keras` file of a 28x28x1 classifier, and its `.tflite` file."""
    root = tmp_path_factory.mktemp("small_model")
    return gap_classifier_files(root, (28, 28, 1), "small")


def _stopped(capsys, command, **flag_values):
    """Runs `command.main` under the flags; its exit status and stderr."""
    try:
        with (
            flagsaver.flagsaver(**flag_values),
            pytest.raises(SystemExit) as exit_info,
        ):
            command.main(["command"])
    except KeyboardInterrupt:
        pytest.fail("the KeyboardInterrupt left the command's main")
    return exit_info.value.code, capsys.readouterr().err.strip()


def test_compress_says_the_finished_stages_are_kept(
    small_model, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(pipeline, "compress", _interrupt)
    out = str(tmp_path / "run")
    flag_values = {
        "teacher_path": small_model[0],
        "limit": 64,
        "output_dir": out,
        "tflite_mode": ["float32"],
    }
    status, err = _stopped(capsys, compress, **flag_values)
    assert status == 130
    assert err == (
        f"Interrupted; finished stages are kept in {out}: rerun the same "
        "command to resume."
    )
    status, err = _stopped(capsys, compress, **flag_values, resume=False)
    assert status == 130 and "rerun it without --noresume" in err


def test_train_teacher_says_where_its_backup_is(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(teacher, "train_teacher", _interrupt)
    out = str(tmp_path / "run")
    status, err = _stopped(capsys, train_teacher, limit=64, output_dir=out)
    assert status == 130
    backup = os.path.join(out, "backup", "teacher")
    assert err == (
        f"Interrupted; the finished epochs are kept in {backup}: rerun the "
        "same command to resume."
    )


def test_export_and_benchmark_exit_with_one_line(
    small_model, tmp_path, monkeypatch, capsys
):
    path, tflite = small_model
    monkeypatch.setattr(lite, "convert", _interrupt)
    monkeypatch.setattr(lite, "benchmark", _interrupt)
    output = str(tmp_path / "m.tflite")
    status, err = _stopped(
        capsys, export_tflite, model_path=path, mode="float32", output=output
    )
    assert (status, err) == (
        130,
        "Interrupted; rerun the same command to convert the model.",
    )
    status, err = _stopped(capsys, benchmark_tflite, tflite=[tflite], runs=1)
    assert (status, err) == (
        130,
        "Interrupted; rerun the same command to time the models.",
    )


def test_the_console_command_prints_no_traceback(small_model, tmp_path):
    # The real entry point, as a shell runs it, with a stage that stops as
    # Ctrl-C stops it.
    out = str(tmp_path / "run")
    code = textwrap.dedent(
        f"""
        from tf_compact import pipeline
        from tf_compact.cli import main

        def interrupt(*args, **kwargs):
            raise KeyboardInterrupt

        pipeline.compress = interrupt
        main.run(["tf-compact", "compress", "--limit=64",
                  "--teacher_path={small_model[0]}", "--output_dir={out}"])
        """
    )
    done = run_python(["-c", code])
    assert done.returncode == 130, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Interrupted; finished stages are kept in {out}")
