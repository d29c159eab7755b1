"""Does the budget controller reach its budget by sparsity in time?

A tiny CNN (two conv/BN/ReLU stages, global pooling, dense logits) is
trained with `tfc.GroupLasso(proximal=True)` under
`tfc.callbacks.BudgetController(target_macs=...)`, on sklearn's digits
(8x8x1) and on a Fashion-MNIST slice (28x28x1), with Adam and with SGD
with momentum, under two laws:

- `old`: one update per epoch, proportional term alone
  (`update_every="epoch", ramp=None`);
- `new`: the defaults (`update_every="auto"`, `ramp=0.3`).

Per run, the script records, to `--results_dir` as JSON and markdown with
the command at the top: the epoch (1-based) at whose end the budget was
first met at the training threshold (`None`: never), the MACs fraction of
the slim model at the controller's final threshold, whether that
threshold had to be raised, the strength trajectory, and the test
accuracy of the slim model from `tfc.prune(model,
threshold=controller.threshold)` in inference mode: as pruned, after
`tfc.sparsity.recalibrate_batch_norm` on training data, and after one
epoch of KD fine-tuning from a dense teacher trained on the same data.

```shell
python benchmarks/bench_controller_convergence.py
# a quick check
python benchmarks/bench_controller_convergence.py --fashion_limit=2000 \\
    --epochs=6 --name=quick
```
"""

import os
import time
import warnings

import common
from absl import app
from absl import flags

EPOCHS = flags.DEFINE_integer("epochs", 6, "Sparse-training epochs.")
TARGET = flags.DEFINE_float("target_macs", 0.5, "MACs budget (fraction).")
BATCH = flags.DEFINE_integer("batch_size", 64, "Batch size.")
FASHION_LIMIT = flags.DEFINE_integer(
    "fashion_limit", 4000, "Fashion-MNIST training (and test) examples."
)
RAMP = flags.DEFINE_float("ramp", 0.3, "`ramp` of the new law.")
STRENGTH = flags.DEFINE_float("strength", 1e-4, "Initial strength.")
SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
DATASETS = flags.DEFINE_multi_enum(
    "dataset", ["digits", "fashion"], ["digits", "fashion"], "Datasets."
)
OPTIMIZERS = flags.DEFINE_multi_enum(
    "optimizer", ["adam", "sgd"], ["adam", "sgd", "adamw"], "Optimizers."
)
LAWS = flags.DEFINE_multi_enum("law", ["old", "new"], ["old", "new"], "Laws.")
NAME = flags.DEFINE_string("name", "default", "Base name of the results.")
RESULTS = flags.DEFINE_string(
    "results_dir",
    os.path.join(
        os.path.dirname(__file__), "results", "sparsity", "convergence"
    ),
    "Where the JSON and markdown land.",
)

LAW_ARGS = {
    "old": {"update_every": "epoch", "ramp": None},
    "new": {},  # the defaults, `ramp` from `--ramp`
}


def _digits():
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    y = digits.target.astype("int64")
    order = np.random.default_rng(SEED.value).permutation(len(y))
    x, y = x[order], y[order]
    cut = int(0.8 * len(y))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def _fashion():
    import tf_compact as tfc

    bundle = tfc.data.load("fashion_mnist", limit=FASHION_LIMIT.value)
    x, y, xt, yt = bundle.arrays()
    return (x.astype("float32"), y), (xt.astype("float32"), yt)


def _cnn(shape):
    import keras

    stride = 2 if shape[0] > 16 else 1
    return keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Conv2D(16, 3, stride, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Conv2D(32, 3, 2, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )


def _optimizer(name):
    import keras

    if name == "adam":
        return keras.optimizers.Adam(1e-3)
    if name == "adamw":
        return keras.optimizers.AdamW(1e-3)
    return keras.optimizers.SGD(1e-2, momentum=0.9)


def _loss():
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _accuracy(model, x, y):
    import keras
    import numpy as np

    logits = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def _teacher(train):
    import keras

    import tf_compact as tfc

    keras.utils.set_random_seed(SEED.value)
    model = _cnn(train[0].shape[1:])
    model.compile(optimizer=_optimizer("adam"), loss=_loss())
    model.fit(*train, batch_size=BATCH.value, epochs=EPOCHS.value, verbose=0)
    tfc.sparsity.recalibrate_batch_norm(model, train[0])
    return model


def _run(train, test, teacher, optimizer, law):
    import keras

    import tf_compact as tfc

    keras.utils.set_random_seed(SEED.value)
    model = _cnn(train[0].shape[1:])
    trainer = tfc.Sparsifier(
        model, sparsity=tfc.GroupLasso(STRENGTH.value, proximal=True)
    )
    trainer.compile(
        optimizer=_optimizer(optimizer), loss=_loss(), metrics=["accuracy"]
    )
    args = dict(LAW_ARGS[law])
    if law == "new":
        args["ramp"] = RAMP.value
    controller = tfc.callbacks.BudgetController(
        target_macs=TARGET.value, **args
    )
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logs = trainer.fit(
            *train,
            batch_size=BATCH.value,
            epochs=EPOCHS.value,
            callbacks=[controller],
            verbose=0,
        ).history
    seconds = time.perf_counter() - start
    met = [i + 1 for i, v in enumerate(logs["budget_met_by_sparsity"]) if v]
    raised = any("threshold was raised" in str(w.message) for w in caught)
    report = tfc.sparsity_report(model, threshold=controller.threshold)
    slim = tfc.prune(model, threshold=controller.threshold)
    before = _accuracy(slim, *test)
    tfc.sparsity.recalibrate_batch_norm(slim, train[0])
    after = _accuracy(slim, *test)
    distiller = tfc.Distiller(
        teacher, slim, distillation_losses=[tfc.LogitsKD(4.0)]
    )
    distiller.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=_loss(), metrics=[]
    )
    distiller.fit(*train, batch_size=BATCH.value, epochs=1, verbose=0)
    tfc.sparsity.recalibrate_batch_norm(slim, train[0])
    return {
        "epochs_to_budget": met[0] if met else None,
        "macs_fraction": float(report.macs_fraction),
        "threshold_raised": raised,
        "met_by_sparsity": bool(controller.met_by_sparsity),
        "strength": [float(v) for v in logs["sparsity_strength"]],
        "train_accuracy_last_epoch": float(logs["accuracy"][-1]),
        "slim_accuracy": before,
        "slim_accuracy_recalibrated": after,
        "slim_accuracy_kd_1_epoch": _accuracy(slim, *test),
        "seconds": seconds,
    }


def _markdown(payload):
    lines = [
        "# BudgetController convergence",
        "",
        f"`{payload['run']['command']}`",
        "",
        f"Target MACs {TARGET.value}, {EPOCHS.value} epochs, batch "
        f"{BATCH.value}, new law's ramp {RAMP.value}. Accuracies: test "
        "set, inference mode; the teacher recalibrated.",
        "",
        "| dataset | optimizer | law | epochs to budget | MACs | raised | "
        "slim acc | recalibrated | +1 epoch KD | teacher |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in payload["rows"]:
        lines.append(
            f"| {row['dataset']} | {row['optimizer']} | {row['law']} | "
            f"{row['epochs_to_budget']} | {row['macs_fraction']:.3f} | "
            f"{row['threshold_raised']} | {row['slim_accuracy']:.3f} | "
            f"{row['slim_accuracy_recalibrated']:.3f} | "
            f"{row['slim_accuracy_kd_1_epoch']:.3f} | "
            f"{row['teacher_accuracy']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    loaders = {"digits": _digits, "fashion": _fashion}
    rows = []
    for dataset in DATASETS.value:
        train, test = loaders[dataset]()
        teacher = _teacher(train)
        teacher_accuracy = _accuracy(teacher, *test)
        for optimizer in OPTIMIZERS.value:
            for law in LAWS.value:
                row = _run(train, test, teacher, optimizer, law)
                row.update(
                    dataset=dataset,
                    optimizer=optimizer,
                    law=law,
                    steps_per_epoch=-(-len(train[1]) // BATCH.value),
                    teacher_accuracy=teacher_accuracy,
                )
                print(row)
                rows.append(row)
    payload = {"rows": rows}
    common.write_json(
        common.result_path(RESULTS.value, NAME.value, ".json"), payload
    )
    payload["run"] = common.run_record()
    common.write_text(
        common.result_path(RESULTS.value, NAME.value, ".md"),
        _markdown(payload),
    )


if __name__ == "__main__":
    app.run(main)
