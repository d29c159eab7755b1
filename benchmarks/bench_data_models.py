"""Times the dataset loaders and the reference models on this machine.

Loaders: wall time of each offline loader and the throughput of one full
pass over the Fashion-MNIST training pipeline. Models: parameters, the
median latency of a forward pass on one batch, and (unless `--fit_epochs=0`)
the wall time of `fit` epochs of `small_cnn` on the full Fashion-MNIST
training set, with its test accuracy. Results are printed and written to a
JSON file.

```shell
python benchmarks/bench_data_models.py --fit_epochs=1 \
    --output=/tmp/bench_data_models.json
```
"""

import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import tf_compact as tfc  # noqa: E402

_FIT_EPOCHS = flags.DEFINE_integer(
    "fit_epochs", 1, "Epochs of small_cnn on Fashion-MNIST; 0 skips fit."
)
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size everywhere.")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed forward passes.")
_OUTPUT = flags.DEFINE_string(
    "output", "bench_data_models.json", "Where to write the JSON results."
)

MODELS = {
    "small_cnn": {},
    "resnet20": {},
    "resnet56": {},
    "vgg": {},
    "mobilenet_v2": {},
    "conv1d_net": {},
}


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_loaders(batch_size):
    """Returns one row per loader and the Fashion-MNIST bundle (or None)."""
    rows, fashion = [], None
    for name in ("builtin", "digits", "fashion_mnist"):
        try:
            bundle, seconds = _timed(
                lambda n=name: tfc.data.load(n, batch_size=batch_size)
            )
        except tfc.data.DatasetNotFoundError as e:
            rows.append({"loader": name, "error": str(e)})
            continue
        rows.append(
            {
                "loader": name,
                "seconds": round(seconds, 3),
                "train": bundle.num_examples("train"),
                "test": bundle.num_examples("test"),
                "source": bundle.source,
            }
        )
        if name == "fashion_mnist":
            fashion = bundle
    if fashion is not None:
        count, seconds = _timed(
            lambda: sum(int(y.shape[0]) for _, y in fashion.train)
        )
        rows.append(
            {
                "loader": "fashion_mnist train pipeline, one pass",
                "seconds": round(seconds, 3),
                "images_per_s": round(count / seconds),
            }
        )
    return rows, fashion


def bench_models(batch_size, repeats):
    """Returns parameters and median forward latency of each model."""
    rows = []
    for name, kwargs in MODELS.items():
        model = tfc.models.get(name, **kwargs)
        x = np.random.default_rng(0).random(
            (batch_size, *model.input_shape[1:]), dtype=np.float32
        )
        model.predict_on_batch(x)
        times = [
            _timed(lambda m=model, b=x: m.predict_on_batch(b))[1]
            for _ in range(repeats)
        ]
        rows.append(
            {
                "model": name,
                "params": model.count_params(),
                "input_shape": list(model.input_shape[1:]),
                "forward_ms_per_batch": round(
                    1000 * statistics.median(times), 2
                ),
            }
        )
    return rows


def bench_fit(bundle, epochs):
    """Trains `small_cnn` for `epochs` and returns times and accuracy."""
    model = tfc.models.small_cnn()
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history, seconds = _timed(
        lambda: model.fit(bundle.train, epochs=epochs, verbose=0)
    )
    _, accuracy = model.evaluate(bundle.test, verbose=0)
    return {
        "model": "small_cnn",
        "epochs": epochs,
        "train_images": bundle.num_examples("train"),
        "seconds_total": round(seconds, 2),
        "seconds_per_epoch": round(seconds / epochs, 2),
        "final_train_accuracy": round(history.history["accuracy"][-1], 4),
        "test_accuracy": round(float(accuracy), 4),
    }


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "keras": keras.__version__,
            "tf_compact": tfc.__version__,
        }
    }
    results["loaders"], fashion = bench_loaders(_BATCH.value)
    results["models"] = bench_models(_BATCH.value, _REPEATS.value)
    if _FIT_EPOCHS.value > 0 and fashion is not None:
        results["fit"] = bench_fit(fashion, _FIT_EPOCHS.value)
    for section in ("loaders", "models"):
        for row in results[section]:
            print(section, json.dumps(row))
    if "fit" in results:
        print("fit", json.dumps(results["fit"]))
    with open(_OUTPUT.value, "w") as f:
        json.dump(results, f, indent=2)
    print(f"Wrote {_OUTPUT.value}")


if __name__ == "__main__":
    app.run(main)
