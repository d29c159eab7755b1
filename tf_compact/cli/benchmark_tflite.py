r"""`tf-compact benchmark-tflite`: time TFLite files on a real interpreter.

```shell
tf-compact benchmark-tflite --tflite=out/teacher_float32.tflite \
    --tflite=out/model_int8.tflite --num_threads=1 --accuracy
tf-compact benchmark-tflite --tflite=out/model_int8_edgetpu.tflite --edgetpu
```

With `--edgetpu`, files compiled by `edgetpu_compiler` run on a Coral Edge
TPU through `libedgetpu`; a file that is not compiled gets its Edge TPU
report printed instead (what maps, what does not and how to fix it).
"""

import sys

from absl import app
from absl import flags

from tf_compact.cli import common_flags
from tf_compact.cli import interrupts
from tf_compact.cli import model_data

TFLITE = flags.DEFINE_multi_string(
    "tflite",
    [],
    "A `.tflite` file to time (repeatable; the first is the "
    "baseline of the speed-up column).",
)
RUNTIME = flags.DEFINE_enum(
    "runtime",
    "auto",
    ["auto", "ai_edge_litert", "tflite_runtime", "tensorflow"],
    "Interpreter runtime; `auto` takes the first that works.",
)
NUM_THREADS = flags.DEFINE_integer(
    "num_threads", 1, "Interpreter threads.", lower_bound=1
)
RUNS = flags.DEFINE_integer("runs", 100, "Timed invokes.", lower_bound=1)
WARMUP = flags.DEFINE_integer("warmup", 10, "Untimed invokes.", lower_bound=0)
ACCURACY = flags.DEFINE_boolean(
    "accuracy", False, "Also measure accuracy on the --dataset test split."
)
SCORE_OUTPUT = flags.DEFINE_string(
    "score_output",
    None,
    "With --accuracy, the output of a multi-output model to score: an "
    "index in Keras order or a signature output name. Default: the first.",
)


def _score_output():
    value = SCORE_OUTPUT.value
    return int(value) if value is not None and value.isdigit() else value


def _load(lite, paths):
    """Reads every file up front; a malformed one stops the command."""
    contents = []
    for path in paths:
        try:
            contents.append(lite.load_model_content(path))
        except (OSError, ValueError) as e:
            print(f"benchmark-tflite: --tflite={path}: {e}", file=sys.stderr)
            return None
    return contents


def _uncompiled(lite, paths, contents):
    """Prints the Edge TPU report of each file not compiled for it."""
    bad = [
        (path, content)
        for path, content in zip(paths, contents)
        if not lite.is_compiled_for_edgetpu(content)
    ]
    for path, content in bad:
        print(
            f"benchmark-tflite: --tflite={path} is not compiled for the Edge "
            "TPU (no edgetpu-custom-op); run edgetpu_compiler on it first. "
            "Its Edge TPU report:",
            file=sys.stderr,
        )
        print(lite.edgetpu_report(content).table(), file=sys.stderr)
    return bool(bad)


def _datasets(contents):
    """The --dataset test split as each file takes it, or `None`s without
    --accuracy (see `model_data`).

    Raises:
        app.UsageError: for a dataset that cannot be loaded, or whose
            images do not fit a file's input.
    """
    if not ACCURACY.value:
        return [None] * len(contents)
    bundle = common_flags.load_data()
    datasets = []
    for path, content in zip(TFLITE.value, contents):
        inputs = model_data.tflite_inputs(content)
        model_data.check_input_shape(
            f"--tflite={path}", inputs, bundle, common_flags.DATASET.value
        )
        datasets.append(model_data.for_tflite(bundle, content).test)
    return datasets


@interrupts.exits_on_interrupt(
    lambda: "Interrupted; rerun the same command to time the models."
)
def main(argv):
    """Benchmarks every --tflite file and prints a comparison table.

    Returns:
        `1` when a --tflite file is missing or not a well-formed TFLite
        model, or with --edgetpu when a file is not compiled for the Edge
        TPU or libedgetpu cannot be loaded (the reason is printed), else
        `None`.

    Raises:
        app.UsageError: on positional arguments, no --tflite file, or with
            --accuracy a --dataset whose images do not fit a file.
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not TFLITE.value:
        raise app.UsageError("Give at least one --tflite=FILE.")
    from tf_compact import lite

    contents = _load(lite, TFLITE.value)
    if contents is None:
        return 1
    delegate = "edgetpu" if common_flags.EDGETPU.value else None
    if delegate and _uncompiled(lite, TFLITE.value, contents):
        return 1
    datasets = _datasets(contents)
    try:
        results = _run(lite, contents, datasets, delegate)
    except lite.RuntimeUnavailableError as e:
        print(f"benchmark-tflite: {e}", file=sys.stderr)
        return 1
    print(lite.compare(results))


def _run(lite, contents, datasets, delegate):
    return [
        lite.benchmark(
            content,
            runtime=RUNTIME.value,
            num_threads=NUM_THREADS.value,
            warmup=WARMUP.value,
            runs=RUNS.value,
            dataset=dataset,
            name=path,
            output=_score_output() if dataset is not None else None,
            delegate=delegate,
        )
        for path, content, dataset in zip(TFLITE.value, contents, datasets)
    ]


if __name__ == "__main__":
    app.run(main)
