"""The `tf-compact` console command: one subcommand per example script.

```shell
tf-compact train-teacher --epochs=2
tf-compact compress --target_macs=0.25
tf-compact export-tflite --model_path=out/slim.keras --mode=int8
tf-compact benchmark-tflite --tflite=out/model_int8.tflite
tf-compact compress --helpfull
```
"""

import importlib
import sys

COMMANDS = {
    "train-teacher": "tf_compact.cli.train_teacher",
    "compress": "tf_compact.cli.compress",
    "export-tflite": "tf_compact.cli.export_tflite",
    "benchmark-tflite": "tf_compact.cli.benchmark_tflite",
}


def _usage():
    names = "\n".join(f"  {name}" for name in sorted(COMMANDS))
    return (
        "usage: tf-compact COMMAND [--flags]\n\ncommands:\n"
        f"{names}\n\n`tf-compact COMMAND --helpfull` lists a command's flags."
    )


def run(argv=None):
    """Runs the subcommand named by `argv[1]` with absl flag parsing.

    Args:
        argv: the full command line, program name first; `None` reads
            `sys.argv`. Defaults to `None`.

    Returns:
        Never returns normally: `absl.app.run` exits the process. Exits with
        status 2 and the usage text on a missing or unknown command.
    """
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(_usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    command = argv[1]
    if command not in COMMANDS:
        print(f"tf-compact: unknown command {command!r}\n", file=sys.stderr)
        print(_usage(), file=sys.stderr)
        sys.exit(2)
    from absl import app

    module = importlib.import_module(COMMANDS[command])
    # absl prints the __main__ docstring as the usage text of --help.
    sys.modules["__main__"].__doc__ = module.__doc__
    app.run(module.main, argv=[f"tf-compact {command}"] + argv[2:])


if __name__ == "__main__":
    run()
