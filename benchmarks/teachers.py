"""Trains the converged teachers of the evidence benchmark, cached.

Three families on full Fashion-MNIST (60,000 training images, tested on
the 10,000 test images after every epoch):

| `--teacher` | model |
|---|---|
| `vgg` | `tfc.models.vgg()` (Flatten + Dense head) |
| `resnet20` | `tfc.models.resnet(20)` on 28x28 inputs |
| `mobilenet_v2` | `tfc.models.mobilenet_v2` at width 0.5, head 640, on 28x28 |

The recipe (`RECIPES`): SGD with Nesterov momentum 0.9 and weight decay
5e-4, batch 128, a linear warm-up over the first epoch's steps, a cosine
decay of the learning rate from its peak to 1%
of it over `epochs` epochs, then `tail_epochs` more epochs at that floor.
Every training image is padded by 2 pixels and randomly cropped back to
28x28, and flipped left-right with probability 1/2 (clothes are
left-right symmetric); the crops, flips and order of epoch `e` depend
only on `(seed, e)`.

The plateau check ("ten more epochs add < 0.1 pp"): training ends with
`tail_epochs` (20; 30 for ResNet-20) epochs at the floor rate; the last
ten of them are ten more epochs at the rate training had reached, so
their gain says what longer training still adds. The result records
`tail_gain_pp`, the mean test accuracy of the last three epochs minus
that of the three epochs ten epochs earlier, and `plateau`
(`tail_gain_pp < 0.1`); a teacher that fails the check is reported as
such.

A finished teacher whose recipe differs only by a shorter tail is not
trained again from the start: the longer recipe goes on from its
weights and history (with a fresh optimizer state, the momentum buffer
rebuilding within a few steps at the floor rate) and records it as
`extended_from`.

Cached by fingerprint: `benchmarks/teachers/<teacher>-<fingerprint>/`,
where the fingerprint hashes the recipe, the model's config and the
training and test arrays. It holds

- `teacher.keras`: the trained model (no optimizer), once finished;
- `teacher.json`: accuracy and loss per epoch, the recipe, the plateau
  check, the command, machine and commit (rewritten after every epoch);
- `checkpoint.keras`: model and optimizer state after the last finished
  epoch, while training is under way (deleted when it finishes).

Killed and restarted with the same command, a run resumes after its last
finished epoch; a finished teacher is not trained again.
`common.load_teacher(name)` loads a finished one.

```shell
python benchmarks/teachers.py --teacher=vgg
python benchmarks/teachers.py --teacher=resnet20
python benchmarks/teachers.py --teacher=mobilenet_v2
# a quick look: 2 epochs on 512 images (a different fingerprint)
python benchmarks/teachers.py --teacher=vgg --epochs=1 --tail_epochs=1 \\
    --limit=512 --teachers_dir=/tmp/teachers
```
"""

import hashlib
import json
import math
import os
import time

import common
from absl import app
from absl import flags

#: The training recipe of each teacher. `model` holds the builder and its
#: arguments; everything else is the training recipe.
_SGD_RECIPE = {
    "epochs": 10,
    "tail_epochs": 20,
    "batch_size": 128,
    "learning_rate": 0.05,
    "min_learning_rate_fraction": 0.01,
    "warmup_epochs": 1,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "pad_crop": 2,
    "flip": True,
    "seed": 0,
}
RECIPES = {
    "vgg": {**_SGD_RECIPE, "model": {"builder": "vgg", "kwargs": {}}},
    "resnet20": {
        **_SGD_RECIPE,
        "model": {"builder": "resnet", "kwargs": {"depth": 20}},
        "tail_epochs": 30,
    },
    "mobilenet_v2": {
        **_SGD_RECIPE,
        "model": {
            "builder": "mobilenet_v2",
            "kwargs": {"width_multiplier": 0.5, "last_channels": 640},
        },
        "epochs": 8,
    },
}

#: "Ten more epochs add < 0.1 pp": the plateau check's span and threshold.
PLATEAU_SPAN = 10
PLATEAU_GAIN_PP = 0.1

TEACHER = flags.DEFINE_enum(
    "teacher", "vgg", sorted(RECIPES), "Which teacher to train."
)
EPOCHS = flags.DEFINE_integer(
    "epochs", None, "Cosine-decay epochs (unset: the recipe's)."
)
TAIL = flags.DEFINE_integer(
    "tail_epochs", None, "Epochs at the floor rate (unset: the recipe's)."
)
LIMIT = flags.DEFINE_integer(
    "limit", None, "Cap on training and test examples (quick runs)."
)
TEACHERS_DIR = flags.DEFINE_string(
    "teachers_dir", common.TEACHERS_DIR, "Where the teachers are cached."
)
SUMMARY_ONLY = flags.DEFINE_boolean(
    "summary_only",
    False,
    "Only rewrite benchmarks/results/teachers/summary.md from the cache.",
)
STOP_AFTER = flags.DEFINE_integer(
    "stop_after",
    None,
    "Stop after this many epochs of this invocation (the run resumes "
    "later); for tests and time-boxed runs.",
)


def recipe(name, epochs=None, tail_epochs=None, limit=None):
    """The recipe of teacher `name`, with the flags' overrides applied."""
    if name not in RECIPES:
        raise ValueError(
            f"Unknown teacher {name!r}: expected one of {sorted(RECIPES)}."
        )
    out = json.loads(json.dumps(RECIPES[name]))
    if epochs is not None:
        out["epochs"] = epochs
    if tail_epochs is not None:
        out["tail_epochs"] = tail_epochs
    out["limit"] = limit
    return out


def build(spec, input_shape, num_classes):
    """The untrained model of a recipe's `model` entry."""
    import tf_compact as tfc

    builder = getattr(tfc.models, spec["builder"])
    return builder(
        input_shape=input_shape, num_classes=num_classes, **spec["kwargs"]
    )


def fingerprint(spec, model, arrays):
    """10 hex digits of the recipe, the model's config and the data."""
    digest = hashlib.sha1()
    digest.update(json.dumps(spec, sort_keys=True).encode())
    digest.update(json.dumps(model.get_config(), sort_keys=True).encode())
    for array in arrays:
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:10]


def learning_rate(spec, epoch):
    """The learning rate of epoch `epoch` (0-based): cosine, then a floor."""
    peak = spec["learning_rate"]
    floor = peak * spec["min_learning_rate_fraction"]
    if epoch >= spec["epochs"]:
        return floor
    progress = epoch / spec["epochs"]
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def augment(x, spec, epoch):
    """Epoch `epoch`'s random pad-crops and flips of `x`, and its order."""
    import numpy as np

    rng = np.random.default_rng([spec["seed"], epoch])
    n, height, width = x.shape[:3]
    pad = spec["pad_crop"]
    if pad:
        padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        dy = rng.integers(0, 2 * pad + 1, size=n)
        dx = rng.integers(0, 2 * pad + 1, size=n)
        rows = dy[:, None] + np.arange(height)
        cols = dx[:, None] + np.arange(width)
        x = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None]]
    if spec["flip"]:
        flip = rng.random(n) < 0.5
        x = x.copy()
        x[flip] = x[flip, :, ::-1]
    return x, rng.permutation(n)


def plateau_check(test_accuracy, span=PLATEAU_SPAN, window=3):
    """`(gain_pp, plateau)` of the last `span` epochs: the mean of the last
    `window` epochs minus the mean of the `window` epochs that ended
    `span` epochs earlier, in percentage points."""
    if span < 1 or len(test_accuracy) < span + window:
        return None, None
    end = sum(test_accuracy[-window:]) / window
    before = test_accuracy[-span - window : -span]
    gain = 100 * (end - sum(before) / window)
    return round(gain, 3), gain < PLATEAU_GAIN_PP


def _warmup(model, spec, epoch, examples):
    """A callback raising the rate linearly over the warm-up's steps."""
    import keras

    steps = -(-examples // spec["batch_size"])
    total = steps * spec["warmup_epochs"]
    target = learning_rate(spec, epoch)

    def begin(batch, logs=None):
        del logs
        done = epoch * steps + batch + 1
        model.optimizer.learning_rate.assign(target * done / total)

    return keras.callbacks.LambdaCallback(on_train_batch_begin=begin)


def _compile(model, spec):
    import keras

    optimizer = keras.optimizers.SGD(
        learning_rate=spec["learning_rate"],
        momentum=spec["momentum"],
        nesterov=True,
        weight_decay=spec["weight_decay"],
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def train(name, spec, teachers_dir, stop_after=None, log=print):
    """Trains (or resumes, or finds cached) teacher `name`; returns its dir."""
    import keras

    import tf_compact as tfc
    from tf_compact.pipeline import training

    bundle = tfc.data.load(
        "fashion_mnist", batch_size=spec["batch_size"], limit=spec["limit"]
    )
    arrays = bundle.arrays()
    x_train, y_train = arrays[:2]
    keras.utils.set_random_seed(spec["seed"])
    model = build(spec["model"], bundle.input_shape, bundle.num_classes)
    key = fingerprint(spec, model, arrays)
    folder = os.path.join(teachers_dir, f"{name}-{key}")
    os.makedirs(folder, exist_ok=True)
    record_path = os.path.join(folder, "teacher.json")
    final_path = os.path.join(folder, "teacher.keras")
    checkpoint = os.path.join(folder, "checkpoint.keras")
    history, origin = [], None
    if os.path.exists(record_path):
        with open(record_path, encoding="utf-8") as f:
            record = json.load(f)
        if record.get("finished") and os.path.exists(final_path):
            log(f"{name}: cached in {folder}")
            return folder
        history = record.get("history", [])
        origin = record.get("extended_from")
    if history and os.path.exists(checkpoint):
        model = keras.saving.load_model(checkpoint)
        log(f"{name}: resuming after epoch {len(history)}")
    else:
        history, origin = [], None
        shorter = _shorter_run(name, spec, model, arrays, teachers_dir)
        if shorter is not None:
            origin, history = shorter
            model = keras.saving.load_model(
                os.path.join(teachers_dir, origin, "teacher.keras")
            )
            log(f"{name}: extending {origin} after epoch {len(history)}")
        _compile(model, spec)
    total = spec["epochs"] + spec["tail_epochs"]
    stop = (
        total if stop_after is None else min(total, len(history) + stop_after)
    )
    for epoch in range(len(history), stop):
        start = time.time()
        rate = learning_rate(spec, epoch)
        model.optimizer.learning_rate.assign(rate)
        x, order = augment(x_train, spec, epoch)
        callbacks = []
        if epoch < spec["warmup_epochs"]:
            callbacks.append(_warmup(model, spec, epoch, len(x)))
        fit = model.fit(
            x[order],
            y_train[order],
            batch_size=spec["batch_size"],
            epochs=1,
            shuffle=False,
            callbacks=callbacks,
            verbose=0,
        ).history
        accuracy = training.accuracy(model, bundle.test)
        history.append(
            {
                "epoch": epoch + 1,
                "learning_rate": rate,
                "train_loss": float(fit["loss"][-1]),
                "train_accuracy": float(fit["accuracy"][-1]),
                "test_accuracy": float(accuracy),
                "seconds": round(time.time() - start, 1),
            }
        )
        model.save(checkpoint)
        _write_record(
            record_path, name, spec, key, model, history, False, origin
        )
        log(json.dumps({"teacher": name, **history[-1]}))
    if len(history) == total:
        plain = keras.models.clone_model(model)
        plain.set_weights(model.get_weights())
        plain.save(final_path)
        _write_record(
            record_path, name, spec, key, model, history, True, origin
        )
        if os.path.exists(checkpoint):
            os.remove(checkpoint)
        log(f"{name}: finished, {folder}")
    return folder


def _shorter_run(name, spec, model, arrays, teachers_dir):
    """`(folder, history)` of the finished teacher whose recipe is `spec`
    with a shorter floor-rate tail (same model, data and everything else),
    from which a longer tail goes on; `None` when there is none."""
    found = None
    if not os.path.isdir(teachers_dir):
        return None
    for entry in sorted(os.listdir(teachers_dir)):
        path = os.path.join(teachers_dir, entry, "teacher.json")
        if entry.rsplit("-", 1)[0] != name or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        old = record.get("recipe", {})
        same = _without_tail(old) == _without_tail(spec)
        if not (
            record.get("finished")
            and same
            and old.get("tail_epochs", 0) < spec["tail_epochs"]
            and entry == f"{name}-{fingerprint(old, model, arrays)}"
            and os.path.isfile(
                os.path.join(teachers_dir, entry, "teacher.keras")
            )
        ):
            continue
        if found is None or len(record["history"]) > len(found[1]):
            found = (entry, record["history"])
    return found


def _without_tail(spec):
    return json.dumps(
        {k: v for k, v in spec.items() if k != "tail_epochs"}, sort_keys=True
    )


def _write_record(path, name, spec, key, model, history, finished, origin):
    import tf_compact as tfc

    accuracies = [h["test_accuracy"] for h in history]
    gain, plateau = plateau_check(accuracies)
    common.write_json(
        path,
        {
            "teacher": name,
            "fingerprint": key,
            "finished": finished,
            "finished_at": (
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                if finished
                else None
            ),
            "epochs_done": len(history),
            "epochs_total": spec["epochs"] + spec["tail_epochs"],
            "test_accuracy": accuracies[-1] if accuracies else None,
            "tail_gain_pp": gain,
            "plateau": plateau,
            "params": int(model.count_params()),
            "macs": int(tfc.profile(model).macs),
            "recipe": spec,
            "extended_from": origin,
            "history": history,
        },
    )


def summary(teachers_dir):
    """The markdown table of every cached teacher, finished or under way."""
    lines = [
        "# Converged teachers (benchmarks/teachers.py)",
        "",
        "Full Fashion-MNIST, test accuracy after the last finished epoch; "
        "the plateau check compares the mean of the last three epochs with "
        "that of the three epochs ten epochs earlier (goal: ten more epochs "
        "add < 0.1 pp). Recipes and per-epoch accuracy: "
        "`benchmarks/teachers/<folder>/teacher.json`.",
        "",
        "| teacher | folder | epochs | test accuracy | tail gain (pp) | "
        "plateau | params | MACs | command |",
        "|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    entries = (
        sorted(os.listdir(teachers_dir)) if os.path.isdir(teachers_dir) else []
    )
    for entry in entries:
        path = os.path.join(teachers_dir, entry, "teacher.json")
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
        if r.get("recipe", {}).get("limit"):
            continue
        accuracy = r.get("test_accuracy")
        gain = r.get("tail_gain_pp")
        plateau = {True: "yes", False: "no", None: "–"}[r.get("plateau")]
        lines.append(
            f"| {r['teacher']} | `{entry}` | {r['epochs_done']}/"
            f"{r['epochs_total']}{'' if r.get('finished') else ' (under way)'}"
            f" | {'–' if accuracy is None else f'{100 * accuracy:.2f}%'} | "
            f"{'–' if gain is None else f'{gain:+.2f}'} | {plateau} | "
            f"{r['params'] / 1e3:.1f}K | {r['macs'] / 1e6:.2f}M | "
            f"`{r['run']['command']}` |"
        )
    lines.append("")
    return "\n".join(lines)


def write_summary(teachers_dir, results_dir=common.RESULTS_DIR):
    """Writes `<results_dir>/teachers/summary.md` (see `summary`)."""
    common.write_text(
        os.path.join(results_dir, "teachers", "summary.md"),
        summary(teachers_dir),
    )


def main(argv):
    del argv
    if not SUMMARY_ONLY.value:
        spec = recipe(TEACHER.value, EPOCHS.value, TAIL.value, LIMIT.value)
        train(TEACHER.value, spec, TEACHERS_DIR.value, STOP_AFTER.value)
    if TEACHERS_DIR.value == common.TEACHERS_DIR:
        write_summary(TEACHERS_DIR.value)


if __name__ == "__main__":
    app.run(main)
