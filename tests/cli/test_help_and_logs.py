"""A new user's first minutes: help, exit codes and log noise of the CLI."""

import logging
import os
import re
import subprocess
import sys
import warnings

import pytest
from absl.testing import flagsaver

from tf_compact.cli import benchmark_tflite
from tf_compact.cli import closing
from tf_compact.cli import common_flags
from tf_compact.cli import compress
from tf_compact.cli import export_tflite
from tf_compact.cli import logs
from tf_compact.cli import main
from tf_compact.cli import train_teacher
from tf_compact.cli import usage

_MODULES = {
    "train-teacher": train_teacher,
    "compress": compress,
    "export-tflite": export_tflite,
    "benchmark-tflite": benchmark_tflite,
}

#: What TensorFlow, CUDA and the converter print when nobody quiets them.
_NOISE = (
    "absl::InitializeLog",
    "I0000 ",
    "W0000 ",
    "cuInit",
    "oneDNN",
    "cpu_feature_guard",
    "Using new converter",
    "Sharding callback",
    "Assets written to",
    "signature_serialization",
    "Statistics for quantized inputs",
    "fully_quantize",
    "INFO: Created TensorFlow Lite",
)

#: Flags other packages define that a tf-compact user never needs.
_FOREIGN_FLAGS = (
    "--test_tmpdir",
    "--test_srcdir",
    "--xml_output_file",
    "--op_conversion_fallback_to_while_loop",
    "--tpu",
    "--only_check_args",
    "--pdb_post_mortem",
)


def _cli(*args, env=None, timeout=300):
    environ = dict(os.environ)
    environ.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a new user's shell
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tf_compact.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
    )


@pytest.fixture
def restore_logging():
    """Undoes what `quiet_third_party_logs` changes in this process."""
    tf_logger = logging.getLogger("tensorflow")
    absl_logger = logging.getLogger("absl")
    level, filters = tf_logger.level, list(absl_logger.filters)
    with warnings.catch_warnings():
        yield
    tf_logger.setLevel(level)
    absl_logger.filters[:] = filters


@pytest.mark.parametrize("flag", ["--help", "--helpfull", "-h", "help"])
def test_top_level_help_exits_0_without_importing_tensorflow(flag):
    code = (
        "import sys\n"
        "from tf_compact.cli import main\n"
        "try:\n"
        f"    main.run(['tf-compact', {flag!r}])\n"
        "except SystemExit as e:\n"
        "    print('exit', e.code, 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.endswith("exit 0 False\n")
    assert out.stderr == ""
    for command in main.COMMANDS:
        assert f"\n  {command} " in out.stdout


def test_top_level_help_lists_commands_with_their_summaries(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main.run(["tf-compact", "--helpfull"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert (
        "  compress          The whole pipeline from the command line.\n"
        in (text)
    )
    assert "`" not in text
    assert max(len(line) for line in text.splitlines()) <= usage.WIDTH


@pytest.mark.slow
def test_command_helpfull_exits_0_with_its_flags_and_no_noise():
    out = _cli("compress", "--helpfull")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("usage: tf-compact compress [--flag=value")
    assert "  --target_macs=<" in out.stdout
    assert "(default: 0.25)" in out.stdout
    for noise in _NOISE:
        assert noise not in out.stderr


@pytest.mark.parametrize("command", sorted(main.COMMANDS))
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_help_shows_its_own_flags_and_exits_0(
    command, flag, capsys, monkeypatch
):
    # Logging is quieted in the subprocess test; here the CLI runs in-process.
    monkeypatch.setattr(logs, "quiet_third_party_logs", lambda *a, **k: None)
    with pytest.raises(SystemExit) as exit_info:
        main.run(["tf-compact", command, "--epochs=2", flag])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: tf-compact {command} [--flag=value ...]")
    module = _MODULES[command]
    own = flags_of(module.__name__)
    assert own, command
    assert f"tf-compact {command} flags:\n" in text
    for name in own:
        assert f"\n  --{name}=" in text or f"\n  --[no]{name}  " in text
    for other, other_module in _MODULES.items():
        if other != command:
            for name in set(flags_of(other_module.__name__)) - set(own):
                assert f"--{name}=" not in text, (command, name)
    assert "data, model and output flags:\n  --batch_size=<int>" in text
    # Every group has a readable title, none a raw module name.
    assert not re.search(r"^tf_compact\.\S* flags:$", text, re.MULTILINE)
    if command in ("compress", "export-tflite"):
        assert "\nAndroid app metadata flags:\n  --labels=" in text
    assert "  --verbosity=<int>, -v  (default: -1)" in text
    for foreign in _FOREIGN_FLAGS:
        assert foreign not in text
    assert "```" not in text and "`" not in text
    assert max(len(line) for line in text.splitlines()) <= 90


def _help_text(command, flag, capsys, monkeypatch):
    monkeypatch.setattr(logs, "quiet_third_party_logs", lambda *a, **k: None)
    with pytest.raises(SystemExit) as exit_info:
        main.run(["tf-compact", command, flag])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(main.COMMANDS))
def test_helpshort_lists_only_the_commands_own_flags(
    command, capsys, monkeypatch
):
    text = _help_text(command, "--helpshort", capsys, monkeypatch)
    full = _help_text(command, "--help", capsys, monkeypatch)
    own = flags_of(_MODULES[command].__name__)
    for name in own:
        assert f"\n  --{name}=" in text or f"\n  --[no]{name}  " in text
    assert "--batch_size=" not in text and "--verbosity=" not in text
    assert text.rstrip("\n") in full


@pytest.mark.parametrize("command", sorted(main.COMMANDS))
def test_helpfull_adds_every_flag_of_the_process(command, capsys, monkeypatch):
    from absl import flags

    text = _help_text(command, "--helpfull", capsys, monkeypatch)
    help_text = _help_text(command, "--help", capsys, monkeypatch)
    assert text.startswith(help_text.rstrip("\n"))
    others = {_MODULES[c].__name__ for c in _MODULES if c != command}
    for module, defined in flags.FLAGS.flags_by_module_dict().items():
        if module in others:
            continue
        for flag in defined:
            name = flag.name
            shown = f"  --{name}=" in text or f"--[no]{name}  " in text
            assert shown, (module, name)
    assert "\nabsl.app flags:\n" in text
    assert not re.search(r"^tf_compact\.\S* flags:$", text, re.MULTILINE)


def flags_of(module_name):
    from absl import flags

    by_module = flags.FLAGS.flags_by_module_dict()
    return [f.name for f in by_module.get(module_name, [])]


def test_command_help_shows_defaults_and_value_choices(capsys, monkeypatch):
    monkeypatch.setattr(logs, "quiet_third_party_logs", lambda *a, **k: None)
    with pytest.raises(SystemExit):
        main.run(["tf-compact", "compress", "--help"])
    text = capsys.readouterr().out
    for line in (
        "  --finetune_epochs=<int>  (default: 3)",
        "  --[no]resume  (default: true)",
        "  --lr_schedule=<cosine|constant>  (default: cosine)",
        "  --tflite_mode=<float32|float16|dynamic|int8>, repeatable  "
        "(default: float32,int8)",
        "  --teacher_path=<string>  (default: unset)",
        "  --output_dir=<string>  (default: tf_compact_out)",
    ):
        assert "\n" + line + "\n" in text
    # The enum's choices are on the signature line, not repeated in help.
    assert "      Learning rate of the KD stages" in text
    # backup/ in --output_dir is explained.
    assert "BackupAndRestore" in text


def test_every_command_help_states_the_defaults_it_uses(capsys, monkeypatch):
    monkeypatch.setattr(logs, "quiet_third_party_logs", lambda *a, **k: None)
    expected = {
        "compress": (
            f"  --epochs=<int>  (default: {compress.DEFAULT_EPOCHS})",
            # Left unset, these take tfc.compress's defaults: shown.
            "  --kd_learning_rate=<float>  (default: 0.005)",
            "  --temperature=<float>  (default: 4.0)",
            "  --student_loss_weight=<float>  (default: 0.9)",
            "  --importance=<l2|l1|bn_gamma|taylor>  (default: l2)",
            "  --allocation=<global|sensitivity>  (default: global)",
            "  --[no]standardize_logits  (default: false)",
        ),
        "train-teacher": (
            f"  --epochs=<int>  (default: {train_teacher.DEFAULT_EPOCHS})",
        ),
    }
    for command, lines in expected.items():
        with pytest.raises(SystemExit):
            main.run(["tf-compact", command, "--help"])
        text = capsys.readouterr().out
        for line in lines:
            assert "\n" + line + "\n" in text, (command, line)


def test_the_data_line_counts_the_examples_in_use():
    with flagsaver.flagsaver(dataset="builtin", limit=300):
        bundle = common_flags.load_data(validation_split=0.1)
    assert bundle.source.startswith(
        "tf_compact built-in Fashion-MNIST subset (270 train, 30 validation, "
        "300 test images of its 6000 train and 1000 test; MIT licence"
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Run it:\n\n```shell\ntf-compact run \\\n    --epochs=2\n```\n",
            "Run it:\n\n  tf-compact run \\\n      --epochs=2",
        ),
        (
            "`tf-compact compress`: the pipeline.",
            "tf-compact compress: the pipeline.",
        ),
        (
            "First paragraph.\n\nSecond\nline.",
            "First paragraph.\n\nSecond\nline.",
        ),
        ("```python\nx = 1\n\ny = 2\n```", "  x = 1\n\n  y = 2"),
        ("", ""),
    ],
)
def test_plain_text_drops_markdown_and_keeps_line_breaks(text, expected):
    assert usage.plain_text(text) == expected


def test_wrap_keeps_paragraphs_and_indented_blocks():
    text = "word " * 30 + "\n\nshort\n\n  keep   this\n  as is"
    wrapped = usage.wrap(text, indent="  ")
    assert all(len(line) <= usage.WIDTH for line in wrapped.splitlines())
    assert wrapped.startswith("  word word")
    assert wrapped.endswith("\n\n  short\n\n    keep   this\n    as is")


def test_command_docstrings_keep_their_continuation_lines():
    # A `\` at a line end in a non-raw docstring joins the lines.
    for module in (*_MODULES.values(), main):
        for line in usage.plain_text(module.__doc__).splitlines():
            assert "     --" not in line.strip(), (module.__name__, line)


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([], -1),
        (["--epochs=2"], -1),
        (["--verbosity=1"], 1),
        (["--verbosity", "2"], 2),
        (["-v=0"], 0),
        (["-v", "1", "--epochs=1"], 1),
        (["--v=1"], 1),
        (["--verbosity=x"], -1),
        (["--verbosity=1", "--verbosity=0"], 0),
        (["--", "--verbosity=1"], -1),
    ],
)
def test_requested_verbosity(argv, expected):
    assert logs.requested_verbosity(argv) == expected


@pytest.mark.parametrize(
    "verbosity, user, gpu, expected",
    [
        (-1, None, False, "3"),  # CPU only: even the cuInit error is noise
        (-1, None, True, "2"),  # a GPU: its errors stay visible
        (-3, None, False, "3"),
        (0, None, False, "1"),
        (1, None, False, None),  # --verbosity=1: TensorFlow's own default
        (-1, "0", False, "0"),  # the user's own setting wins
        (1, "2", True, "2"),
    ],
)
def test_tf_log_level_follows_verbosity(
    verbosity, user, gpu, expected, monkeypatch, restore_logging
):
    monkeypatch.setattr(logs, "has_nvidia_gpu", lambda: gpu)
    environ = {} if user is None else {"TF_CPP_MIN_LOG_LEVEL": user}
    assert logs.quiet_third_party_logs(verbosity, environ) == expected
    assert environ.get("TF_CPP_MIN_LOG_LEVEL") == expected
    # No GPU is ever hidden.
    assert "CUDA_VISIBLE_DEVICES" not in environ


@pytest.mark.parametrize(
    "verbosity, shown", [(-1, False), (0, False), (1, True)]
)
def test_tensorflow_info_logs_hidden_unless_asked(
    verbosity, shown, monkeypatch, restore_logging
):
    from absl import logging as absl_logging

    logs.quiet_third_party_logs(verbosity, {})
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    absl_logger = logging.getLogger("absl")
    absl_logger.addHandler(handler)
    monkeypatch.setattr(absl_logger, "level", logging.DEBUG)
    try:
        tf_file = os.path.join("site-packages", "tensorflow", "lite.py")
        for path, message in ((tf_file, "converter"), (__file__, "ours")):
            absl_logger.handle(
                absl_logger.makeRecord(
                    "absl", logging.INFO, path, 1, message, (), None
                )
            )
        tf_logger = logging.getLogger("tensorflow")
        assert tf_logger.isEnabledFor(logging.INFO) is shown
    finally:
        absl_logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert messages == (["converter", "ours"] if shown else ["ours"])
    assert absl_logging is not None


def test_startup_banner_lines_are_dropped_and_the_rest_kept():
    text = (
        "WARNING: All log messages before absl::InitializeLog() is called "
        "are written to STDERR\n"
        "I0000 00:00:1796527391.133228   24532 port.cc:153] oneDNN ...\n"
        "W0000 00:00:1796527414.566944   24532 helpers.cc:364] Ignored.\n"
        "E0000 00:00:1796527397.134206   24532 cuda_platform.cc:52] "
        "failed call to cuInit\n"
        "To enable the following instructions: AVX2 FMA, rebuild.\n"
        "fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32\n"
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
        "INFO:tensorflow:a Python log line\n"
        "I1206 03:52:05.573755 140475036638080 compress.py:290] Data: ok\n"
        "Traceback (most recent call last):\n"
        "ImportError: a real problem\n"
    )
    kept = "".join(logs._kept_lines(text, "3"))
    assert kept == (
        "INFO:tensorflow:a Python log line\n"
        "I1206 03:52:05.573755 140475036638080 compress.py:290] Data: ok\n"
        "Traceback (most recent call last):\nImportError: a real problem\n"
    )
    kept = "".join(logs._kept_lines(text, "1"))
    assert "Ignored." in kept and "cuInit" in kept and "oneDNN" not in kept
    assert "".join(logs._kept_lines(text, "0")) == text
    assert "".join(logs._kept_lines(text, None)) == text


def test_filtered_stderr_drops_noise_even_from_cpp_and_keeps_last_words():
    code = (
        "import os, sys\n"
        "from tf_compact.cli import logs\n"
        "with logs.filtered_stderr('3'):\n"
        "    os.write(2, b'I0000 00:00:1.5  42 port.cc:153] banner\\n')\n"
        "    os.write(2, b'INFO: Created TensorFlow Lite delegate\\n')\n"
        "    print('kept: a warning', file=sys.stderr)\n"
        "print('after', file=sys.stderr, flush=True)\n"
        "with logs.filtered_stderr('2'):\n"
        "    os.write(2, b'last words before a crash\\n')\n"
        "    os._exit(3)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 3
    assert out.stderr == "kept: a warning\nafter\nlast words before a crash\n"


@pytest.mark.slow
def test_export_command_prints_no_tensorflow_or_converter_noise(tmp_path):
    from tf_compact.cli import resources

    model = resources.build_model("small_cnn", (28, 28, 1), 10)
    path = str(tmp_path / "tiny.keras")
    model.save(path)
    out = _cli(
        "export-tflite",
        f"--model_path={path}",
        "--mode=int8",
        "--limit=64",
        "--calibration_steps=1",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert os.path.getsize(export_tflite.output_path(path, "int8")) > 0
    for noise in _NOISE:
        assert noise not in out.stderr, (noise, out.stderr[-3000:])
    verbose = _cli(
        "export-tflite", f"--model_path={path}", "--mode=float32", "-v", "1"
    )
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "I0000 " in verbose.stderr


@pytest.mark.parametrize(
    "flags_set, expected",
    [
        ({}, 9),  # default: 6 KD + 3 fine-tune epochs
        ({"epochs": 2, "finetune_epochs": 1}, 3),
        ({"epochs": 0, "finetune_epochs": 0}, 1),
        ({"epochs": 2, "teacher_epochs": 7}, 7),
    ],
)
def test_teacher_trains_at_least_as_long_as_the_student(flags_set, expected):
    with flagsaver.flagsaver(**flags_set):
        assert compress._teacher_epochs() == expected


def test_closing_lines_name_epochs_report_and_backup(tmp_path):
    (tmp_path / "backup" / "sparsify").mkdir(parents=True)
    # Empty folders, as a finished run leaves them, hold no training state.
    lines = closing.closing_lines(str(tmp_path), 9, (6, 3))
    assert not [line for line in lines if "backup" in line], lines
    (tmp_path / "backup" / "sparsify" / "training_metadata.json").write_text(
        "{}"
    )
    lines = closing.closing_lines(str(tmp_path), 5, (6, 3))
    assert lines[0] == "Epochs: teacher 5; student 6 + 3 fine-tune = 9."
    assert "fewer epochs than the student" in lines[1]
    assert "--teacher_epochs=9" in lines[1]
    assert lines[2] == f"Report: {tmp_path / 'report.md'}"
    assert lines[3].startswith(f"{tmp_path / 'backup'}{os.sep} holds Keras ")
    assert "BackupAndRestore" in lines[3] and "resumes" in lines[3]
    fair = closing.closing_lines(str(tmp_path / "none"), 9, (6, 3))
    assert fair == [
        "Epochs: teacher 9; student 6 + 3 fine-tune = 9.",
        f"Report: {tmp_path / 'none' / 'report.md'}",
    ]
    unknown = closing.closing_lines(str(tmp_path / "none"), None, (6, 3))
    assert unknown[0] == "Epochs: teacher unknown; student 6 + 3 fine-tune = 9."


def test_tradeoff_labels_of_coinciding_points_do_not_overlap():
    from tf_compact.pipeline import plots

    points = [
        {"name": "teacher", "macs": 5.5e6, "accuracy": 0.90},
        {"name": "tf_compact", "macs": 1.4e6, "accuracy": 0.89},
        {"name": "tf_compact int8", "macs": 1.4e6, "accuracy": 0.889},
    ]
    offsets = plots._label_offsets(points)
    assert offsets[0][2] == "right"  # the rightmost label points inwards
    assert offsets[1][2] == offsets[2][2] == "left"
    assert offsets[1][1] - offsets[2][1] >= 10  # stacked, a line apart


def test_version_flag(capsys):
    from tf_compact import version

    with pytest.raises(SystemExit) as exit_info:
        main.run(["tf-compact", "--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"tf-compact {version.__version__}\n"


@pytest.mark.parametrize(
    "command, flag", [(export_tflite, "model_path"), (compress, "teacher_path")]
)
def test_a_model_file_flag_names_a_missing_or_unreadable_file(
    command, flag, tmp_path, parsed_flags
):
    from absl import app

    missing = str(tmp_path / "missing.keras")
    expected = pytest.raises(app.UsageError, match=f"--{flag}=.*no such file")
    with flagsaver.flagsaver(**{flag: missing}), expected:
        command.main(["tf-compact"])
    # A remote path is the loader's to read.
    common_flags.check_file(flag, "gs://bucket/teacher.keras")
    garbage = tmp_path / "garbage.keras"
    garbage.write_text("not a model")
    with pytest.raises(app.UsageError, match="cannot be read as a Keras") as e:
        common_flags.load_keras_model(flag, str(garbage))
    # The file exists: it is no zip, not "not found".
    assert "is not a Keras zip archive" in str(e.value)
    assert "not found" not in str(e.value).lower()
    # An HDF5 model given the .keras suffix is told to keep its .h5 one.
    import keras

    h5 = tmp_path / "m.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(h5)
    renamed = tmp_path / "renamed.keras"
    renamed.write_bytes(h5.read_bytes())
    with pytest.raises(app.UsageError, match="HDF5 file.*`.h5` suffix"):
        common_flags.load_keras_model(flag, str(renamed))
    assert common_flags.load_keras_model(flag, str(h5)).output_shape[-1] == 2


def test_library_warnings_are_one_log_line_on_the_command_line(monkeypatch):
    import types
    import warnings

    from absl import logging as absl_logging

    def warn_from(module_name, text):
        # tf_compact's modules warn through `user_warning.warn`.
        ours = module_name.startswith("tf_compact.")
        module = types.ModuleType(module_name)
        exec(  # noqa: S102 - a module whose code issues the warning
            "import warnings\n"
            "from tf_compact.internal.user_warning import warn\n"
            "def run(text):\n"
            + ("    warn(text)\n" if ours else "    warnings.warn(text)\n"),
            module.__dict__,
        )
        module.run(text)

    logged, shown = [], []
    monkeypatch.setattr(
        absl_logging, "warning", lambda fmt, *a: logged.append(fmt % a)
    )
    monkeypatch.setattr(
        warnings, "showwarning", lambda message, *a, **k: shown.append(message)
    )
    with logs.pipeline_warnings_hidden(), warnings.catch_warnings():
        warnings.simplefilter("always")
        warn_from("tf_compact.pipeline.fake", "repeats a log line")
        warn_from("tf_compact.pruning.fake", "no try met the target")
        warn_from("somebody.else", "a user's own warning")
    assert logged == ["no try met the target"]
    assert [str(m) for m in shown] == ["a user's own warning"]
