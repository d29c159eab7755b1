"""The `tf-compact` console entry point."""

import subprocess
import sys

import pytest

from tf_compact.cli import main


def test_usage_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main.run(["tf-compact", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in main.COMMANDS:
        assert command in text


def test_missing_or_unknown_command_exits_with_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main.run(["tf-compact"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main.run(["tf-compact", "shrink"])
    assert exit_info.value.code == 2
    assert "unknown command 'shrink'" in capsys.readouterr().err


@pytest.mark.slow
def test_helpfull_of_a_subcommand_is_readable():
    out = subprocess.run(
        [sys.executable, "-m", "tf_compact.cli.main", "compress", "--helpfull"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("usage: tf-compact compress")
    for flag in ("--target_macs", "--method", "--dataset", "--output_dir"):
        assert flag in out.stdout
    assert "tf-compact compress flags:" in out.stdout


def test_python_dash_m_runs_the_command():
    out = subprocess.run(
        [sys.executable, "-m", "tf_compact", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for command in main.COMMANDS:
        assert command in out.stdout
