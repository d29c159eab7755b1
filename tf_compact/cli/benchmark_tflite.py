"""`tf-compact benchmark-tflite`: time TFLite files on a real interpreter.

```shell
tf-compact benchmark-tflite --tflite=out/teacher_float32.tflite \
    --tflite=out/model_int8.tflite --num_threads=1 --accuracy
```
"""

from absl import app
from absl import flags

from tf_compact.cli import common_flags

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


def main(argv):
    """Benchmarks every --tflite file and prints a comparison table.

    Raises:
        app.UsageError: on positional arguments or no --tflite file.
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not TFLITE.value:
        raise app.UsageError("Give at least one --tflite=FILE.")
    from tf_compact import lite

    dataset = common_flags.load_data().test if ACCURACY.value else None
    results = [
        lite.benchmark(
            path,
            runtime=RUNTIME.value,
            num_threads=NUM_THREADS.value,
            warmup=WARMUP.value,
            runs=RUNS.value,
            dataset=dataset,
            name=path,
        )
        for path in TFLITE.value
    ]
    print(lite.compare(results))


if __name__ == "__main__":
    app.run(main)
