r"""The `tf-compact` console command: one subcommand per example script.

```shell
tf-compact train-teacher --epochs=2
tf-compact compress --target_macs=0.25
tf-compact export-tflite --model_path=tf_compact_out/slim_finetuned.keras \
    --mode=int8
tf-compact benchmark-tflite --tflite=tf_compact_out/model_int8.tflite
tf-compact compress --help
```

`tf-compact --help` lists the commands without importing TensorFlow; a
command's modules, and TensorFlow with them, are imported only once the
command is known, after TensorFlow's logs are quieted (see `logs`).
"""

import importlib
import sys

from tf_compact.cli import interrupts
from tf_compact.cli import logs
from tf_compact.cli import usage
from tf_compact.version import __version__

COMMANDS = {
    "train-teacher": "tf_compact.cli.train_teacher",
    "compress": "tf_compact.cli.compress",
    "export-tflite": "tf_compact.cli.export_tflite",
    "benchmark-tflite": "tf_compact.cli.benchmark_tflite",
}

#: The spellings of absl's help flags; each prints the help and exits 0.
HELP_FLAGS = ("-h", "-?", "--help", "--helpfull", "--helpshort")


def _usage():
    width = max(len(name) for name in COMMANDS)
    names = "\n".join(
        f"  {name.ljust(width)}  {usage.module_summary(COMMANDS[name])}"
        for name in sorted(COMMANDS)
    )
    return (
        "usage: tf-compact COMMAND [--flag=value ...]\n\n"
        "Compress a Keras CNN into a small, fast TFLite model.\n\n"
        f"commands:\n{names}\n\n"
        "`tf-compact COMMAND --help` lists a command's flags; every command "
        "takes --verbosity=1 to show TensorFlow's own logs. "
        "`tf-compact --version` prints the version."
    )


def _help_extent(args):
    # absl's convention: --helpshort the main module's flags, --helpfull all.
    for arg in args:
        if arg in ("--helpfull", "--helpshort"):
            return "full" if arg == "--helpfull" else "short"
    return "help"


def _wants_help(args):
    for arg in args:
        if arg == "--":
            return False
        if arg in HELP_FLAGS:
            return True
    return False


def run(argv=None):
    """Runs the subcommand named by `argv[1]` with absl flag parsing.

    Args:
        argv: the full command line, program name first; `None` reads
            `sys.argv`. Defaults to `None`.

    Returns:
        Never returns normally: it exits the process. `--help` (or
        `--helpfull`, `-h`, `help`) alone prints the commands and exits
        with status 0; a missing or unknown command prints them to stderr
        and exits with status 2.
    """
    argv = list(sys.argv if argv is None else argv)
    args = argv[1:]
    if args[:1] == ["help"] and len(args) > 1:
        args = [args[1], "--help"]
    if not args or args[0] in HELP_FLAGS + ("help",):
        stream = sys.stdout if args else sys.stderr
        print(usage.wrap(usage.plain_text(_usage())), file=stream)
        sys.exit(0 if args else 2)
    command = args[0]
    if command == "--version":
        print(f"tf-compact {__version__}")
        sys.exit(0)
    if command not in COMMANDS:
        print(f"tf-compact: unknown command {command!r}\n", file=sys.stderr)
        print(usage.wrap(usage.plain_text(_usage())), file=sys.stderr)
        sys.exit(2)
    run_command(command, args[1:], prog=f"tf-compact {command}")


def run_command(command, args, prog=None):
    """Runs one command: quiets third-party logs, then absl's `app.run`.

    TensorFlow's, the TFLite converter's and CUDA's logs are hidden unless
    `--verbosity` asks for them (see `logs.quiet_third_party_logs`).

    `--help` and its absl spellings print the command's own flags,
    grouped, with their defaults, and exit with status 0. Ctrl-C exits
    with status 130 after one line (the command's own, once it runs).

    Args:
        command: a key of `COMMANDS`.
        args: the command's arguments, without the program name.
        prog: how the command was invoked, shown in its help.
            Defaults to `tf-compact <command>`.

    Returns:
        Never returns normally: `absl.app.run` exits the process.

    Example:

    ```python
    run_command("compress", sys.argv[1:], prog="examples/compress.py")
    ```
    """
    prog = prog or f"tf-compact {command}"
    level = logs.quiet_third_party_logs(logs.requested_verbosity(args))
    try:
        with logs.filtered_stderr(level):
            _run_module(command, args, prog)
    except KeyboardInterrupt:
        # Before the command's own `main`, which says what it keeps.
        print("\nInterrupted.", file=sys.stderr)
        sys.exit(interrupts.STATUS)


def _run_module(command, args, prog):
    from absl import app

    module = importlib.import_module(COMMANDS[command])
    if _wants_help(args):
        others = [n for key, n in COMMANDS.items() if key != command]
        extent = _help_extent(args)
        sys.stdout.write(usage.command_help(prog, module, others, extent))
        sys.exit(0)
    # absl prints the __main__ docstring above a usage error.
    sys.modules[
        "__main__"
    ].__doc__ = (
        f"usage: {prog} [--flag=value ...]\n`{prog} --help` lists its flags.\n"
    )
    app.run(module.main, argv=[prog] + list(args))


if __name__ == "__main__":
    run()
