"""Accuracy vs MACs of group sparsity, KD and feedback control.

On full Fashion-MNIST, one small CNN teacher is trained (and cached). Every
arm starts from a copy of the teacher and trains for the same number of
epochs; its test accuracy is then measured at several MACs budgets:

- `gl`: group lasso alone (`tfc.Sparsifier`), fixed strength.
- `gl_kd_<lambda>`: group lasso + logits KD (`tfc.Distiller`), fixed
  strength, one arm per value of `--lambdas`.
- `gl_kd_ctrl`: group lasso + KD + `tfc.callbacks.SparsityController`.
- `budget_<b>`: group lasso + KD + `tfc.callbacks.BudgetController`, one
  arm per budget, pruned at the controller's threshold.
- `iterative_<b>`: global iterative pruning with KD fine-tuning between
  rounds (`tfc.iterative_prune`), one arm per budget, with as many rounds
  of one epoch as the other arms have epochs.

Arms that train one model (`gl*`) are pruned to each budget with
`tfc.prune(target_macs=b)` (global L2 ranking, no fine-tuning), and also
at their own threshold. The penalty is proximal (exact zeros).

Usage:

    python benchmarks/bench_sparsity.py --epochs=3 --teacher_epochs=3
    python benchmarks/bench_sparsity.py --limit=5000 --epochs=1  # smoke
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

import tf_compact as tfc  # noqa: E402

EPOCHS = flags.DEFINE_integer("epochs", 3, "Epochs of every arm.")
TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", 3, "Teacher epochs.")
BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size.")
LR = flags.DEFINE_float("lr", 1e-3, "Adam learning rate of every arm.")
LIMIT = flags.DEFINE_integer("limit", None, "Train/test subset (smoke runs).")
BUDGETS = flags.DEFINE_list("budgets", ["0.5", "0.25", "0.1"], "MACs.")
LAMBDAS = flags.DEFINE_list(
    "lambdas", ["0.05", "0.15", "0.4"], "Fixed strengths of the gl_kd arms."
)
GL_LAMBDA = flags.DEFINE_float("gl_lambda", 0.15, "Strength of `gl`.")
THRESHOLD = flags.DEFINE_float("threshold", 1e-3, "Channel-norm threshold.")
ARMS = flags.DEFINE_list("arms", None, "Subset of arm prefixes to run.")
CACHE = flags.DEFINE_string(
    "cache_dir", "/tmp/tf_compact_bench", "Where the teacher is cached."
)
OUT = flags.DEFINE_string(
    "out", "benchmarks/results/sparsity/summary.json", "JSON results file."
)
MERGE = flags.DEFINE_bool(
    "merge",
    False,
    "Keep the rows of --out whose arms were not rerun (with their `run`).",
)
RUN = flags.DEFINE_string("run", "r1", "Tag of this run in the `run` column.")
TARGETED = flags.DEFINE_bool(
    "targeted", True, "BudgetController(targeted=...) of the budget arms."
)
BUDGET_EVERY = flags.DEFINE_integer(
    "budget_update_every", 50, "Steps between BudgetController updates."
)
BUDGET_MAX = flags.DEFINE_float(
    "budget_max_strength",
    None,
    "BudgetController(max_strength=...); unset: the controller's default.",
)
REPORT_ONLY = flags.DEFINE_bool(
    "report_only", False, "Only rewrite the table and plot from --out."
)
HOLD = 1000  # held-out training images for the SparsityController
CALIBRATION = [None]  # training images for BN recalibration


def _loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def load_data():
    bundle = tfc.data.fashion_mnist(limit=LIMIT.value)
    x, y, x_test, y_test = bundle.arrays()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    hold = (x[-HOLD:], y[-HOLD:])
    return (x[:-HOLD], y[:-HOLD]), hold, (x_test, y_test)


def get_teacher(train):
    os.makedirs(CACHE.value, exist_ok=True)
    tag = f"sparsity_teacher_e{TEACHER_EPOCHS.value}_l{LIMIT.value}"
    path = os.path.join(CACHE.value, tag + ".weights.h5")
    keras.utils.set_random_seed(0)
    teacher = tfc.models.small_cnn(name="teacher")
    teacher.compile(
        optimizer=keras.optimizers.Adam(LR.value),
        loss=_loss(),
        metrics=["accuracy"],
    )
    if os.path.exists(path):
        teacher.load_weights(path)
    else:
        teacher.fit(
            *train,
            batch_size=BATCH.value,
            epochs=TEACHER_EPOCHS.value,
            verbose=2,
        )
        teacher.save_weights(path)
    teacher.trainable = False
    return teacher


def copy_of(teacher):
    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    for layer in student.layers:  # the clone copies trainable=False
        layer.trainable = True
    return student


def recalibrate_bn(model, x):
    """Resets BN moving statistics to those of one large training batch.

    Group lasso shrinks conv kernels that BN makes scale-invariant, so the
    moving statistics lag behind during training; every arm (and every
    pruned model) is recalibrated the same way before it is evaluated.
    """
    norms = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(x, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum


def accuracy(model, test):
    pred = model.predict(test[0], batch_size=1000, verbose=0)
    return float(np.mean(np.argmax(pred, -1) == test[1]))


def macs_fraction(model, dense_macs):
    return tfc.estimate_slim_cost(model)[0] / dense_macs


def distiller(teacher, student, penalty):
    model = tfc.Distiller(teacher, student, [tfc.LogitsKD()], sparsity=penalty)
    model.compile(
        optimizer=keras.optimizers.Adam(LR.value),
        loss=_loss(),
        metrics=["accuracy"],
    )
    return model


def train(model, train_data, callbacks):
    start = time.perf_counter()
    model.fit(
        *train_data,
        batch_size=BATCH.value,
        epochs=EPOCHS.value,
        callbacks=callbacks,
        verbose=2,
    )
    return time.perf_counter() - start


def curve(name, student, test, dense_macs, budgets, extra):
    """Rows at each budget (prune, no fine-tuning) and at the threshold."""
    rows = [_row(name, "trained", student, test, dense_macs, extra)]
    natural = tfc.prune(student, threshold=THRESHOLD.value)
    rows.append(_row(name, "threshold", natural, test, dense_macs, extra))
    for b in budgets:
        slim = tfc.prune(student, target_macs=b)
        rows.append(_row(name, f"{b:g}", slim, test, dense_macs, extra))
    return rows


def _row(arm, point, model, test, dense_macs, extra):
    row = {
        "arm": arm,
        "point": point,
        "macs_fraction": macs_fraction(model, dense_macs),
        "accuracy_raw": accuracy(model, test),
    }
    if arm != "teacher":
        recalibrate_bn(model, CALIBRATION[0])
    row["accuracy"] = accuracy(model, test)
    row.update(extra)
    logging.info("%s", row)
    return row


def arm_gl(teacher, data, budgets, dense_macs):
    train_data, _, test = data
    student = copy_of(teacher)
    model = tfc.Sparsifier(
        student, sparsity=tfc.GroupLasso(GL_LAMBDA.value, proximal=True)
    )
    model.compile(
        optimizer=keras.optimizers.Adam(LR.value),
        loss=_loss(),
        metrics=["accuracy"],
    )
    seconds = train(model, train_data, [])
    extra = {"strength": GL_LAMBDA.value, "train_s": seconds}
    return curve("gl", student, test, dense_macs, budgets, extra)


def arm_gl_kd(teacher, data, budgets, dense_macs, strength):
    train_data, _, test = data
    student = copy_of(teacher)
    model = distiller(teacher, student, tfc.GroupLasso(strength, proximal=True))
    seconds = train(model, train_data, [])
    extra = {"strength": strength, "train_s": seconds}
    return curve(
        f"gl_kd_{strength:g}", student, test, dense_macs, budgets, extra
    )


def arm_ctrl(teacher, data, budgets, dense_macs):
    train_data, hold, test = data
    student = copy_of(teacher)
    model = distiller(teacher, student, tfc.GroupLasso(0.05, proximal=True))
    controller = tfc.callbacks.SparsityController(
        data=hold,
        metric="accuracy",
        setpoint=0.01,
        update_every=100,
        threshold=THRESHOLD.value,
    )
    seconds = train(model, train_data, [controller])
    extra = {"strength": controller.strength_value(), "train_s": seconds}
    return curve("gl_kd_ctrl", student, test, dense_macs, budgets, extra)


def arm_budget(teacher, data, budget, dense_macs):
    train_data, _, test = data
    student = copy_of(teacher)
    model = distiller(teacher, student, tfc.GroupLasso(0.05, proximal=True))
    controller = tfc.callbacks.BudgetController(
        target_macs=budget,
        update_every=BUDGET_EVERY.value,
        threshold=THRESHOLD.value,
        max_strength=BUDGET_MAX.value,
        targeted=TARGETED.value,
        verbose=1,
    )
    seconds = train(model, train_data, [controller])
    slim = tfc.prune(student, threshold=controller.threshold)
    extra = {
        "strength": controller.strength_value(),
        "threshold": controller.threshold,
        "targeted": TARGETED.value,
        "train_s": seconds,
    }
    return [
        _row(f"budget_{budget:g}", f"{budget:g}", slim, test, dense_macs, extra)
    ]


def arm_iterative(teacher, data, budget, dense_macs):
    train_data, _, test = data
    student = copy_of(teacher)
    rounds = EPOCHS.value
    fraction = 1 - budget ** (1 / (2 * rounds))
    start = time.perf_counter()
    slim, log = tfc.iterative_prune(
        student,
        train_data,
        target_macs=budget,
        fraction=fraction,
        epochs_per_round=1,
        teacher=teacher,
        optimizer=keras.optimizers.Adam(LR.value),
        metrics=["accuracy"],
        max_rounds=rounds,
        fit_kwargs={"batch_size": BATCH.value},
        verbose=2,
    )
    extra = {
        "rounds": len(log),
        "fraction": fraction,
        "train_s": time.perf_counter() - start,
    }
    return [
        _row(
            f"iterative_{budget:g}",
            f"{budget:g}",
            slim,
            test,
            dense_macs,
            extra,
        )
    ]


def _wanted(prefix):
    return ARMS.value is None or any(prefix.startswith(a) for a in ARMS.value)


#: Legend of each arm family, in the words of the user guide.
LEGEND = {
    "teacher": "teacher (dense)",
    "gl": "group lasso alone, fixed strength",
    "gl_kd_ctrl": "group lasso + KD + SparsityController",
    "budget": "group lasso + KD + BudgetController",
    "iterative": "iterative pruning + KD",
}


def legend_label(family):
    """The plot legend of an arm family (`gl_kd_0.15` -> fixed strength)."""
    if family in LEGEND:
        return LEGEND[family]
    if family.startswith("gl_kd_"):
        return f"group lasso + KD, fixed strength {family[len('gl_kd_') :]}"
    return family


def write_report(results, out_json):
    """Writes `<out>.md` (table) and `<out>.png` (accuracy vs MACs)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    base = os.path.splitext(out_json)[0]
    rows = results["rows"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    arms = {}
    for r in rows:
        family = r["arm"].split("_0")[0].split("_1")[0]
        if r["arm"].startswith("gl"):
            family = r["arm"]
        arms.setdefault(family, []).append(r)
    for family, items in arms.items():
        items = sorted(items, key=lambda r: r["macs_fraction"])
        xs = [100 * r["macs_fraction"] for r in items]
        ys = [100 * r["accuracy"] for r in items]
        style = "*" if family == "teacher" else "o-"
        ax.plot(xs, ys, style, label=legend_label(family), markersize=5)
    ax.set_xlabel("MACs of the slim model (% of the teacher)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Fashion-MNIST, small CNN: accuracy vs MACs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(base + ".png", dpi=120)
    lines = [
        "| arm | point | MACs % | accuracy % | no BN recal. % | strength "
        "| train s | run |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        strength = r.get("strength")
        lines.append(
            f"| {r['arm']} | {r['point']} | {100 * r['macs_fraction']:.1f} "
            f"| {100 * r['accuracy']:.2f} "
            f"| {100 * r.get('accuracy_raw', r['accuracy']):.2f} | "
            f"{'' if strength is None else f'{strength:.3g}'} | "
            f"{r.get('train_s', 0):.0f} | {r.get('run', 'r1')} |"
        )
    with open(base + "_table.md", "w") as f:
        f.write("\n".join(lines) + "\n")


def merge_results(path, new):
    """Replaces the rerun arms' rows of the results in `path` by `new`'s.

    Rows keep their position (a rerun arm's rows take the place of its old
    ones); every row carries the `run` it was measured in, and each run's
    config is kept under `configs`.
    """
    with open(path) as f:
        old = json.load(f)
    configs = old.get("configs") or {"r1": old["config"]}
    configs[RUN.value] = new["config"]
    rerun = {r["arm"] for r in new["rows"] if r["arm"] != "teacher"}
    fresh = {}
    for row in new["rows"]:
        fresh.setdefault(row["arm"], []).append(row)
    rows = []
    for row in old["rows"]:
        row.setdefault("run", "r1")
        if row["arm"] not in rerun:
            rows.append(row)
        elif row["arm"] in fresh:
            rows += fresh.pop(row["arm"])
    for arm, items in fresh.items():
        if arm != "teacher":
            rows += items
    return {"config": old["config"], "configs": configs, "rows": rows}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if REPORT_ONLY.value:
        with open(OUT.value) as f:
            write_report(json.load(f), OUT.value)
        return
    data = load_data()
    CALIBRATION[0] = data[0][0][:2048]
    budgets = [float(b) for b in BUDGETS.value]
    teacher = get_teacher(data[0])
    dense_macs = tfc.estimate_slim_cost(teacher)[0]
    rows = [_row("teacher", "dense", teacher, data[2], dense_macs, {})]
    if _wanted("gl"):
        rows += arm_gl(teacher, data, budgets, dense_macs)
    for strength in (float(v) for v in LAMBDAS.value):
        if _wanted(f"gl_kd_{strength:g}"):
            rows += arm_gl_kd(teacher, data, budgets, dense_macs, strength)
    if _wanted("gl_kd_ctrl"):
        rows += arm_ctrl(teacher, data, budgets, dense_macs)
    for budget in budgets:
        if _wanted(f"budget_{budget:g}"):
            rows += arm_budget(teacher, data, budget, dense_macs)
        if _wanted(f"iterative_{budget:g}"):
            rows += arm_iterative(teacher, data, budget, dense_macs)
    for row in rows:
        row["run"] = RUN.value
    os.makedirs(os.path.dirname(OUT.value) or ".", exist_ok=True)
    config = {
        "epochs": EPOCHS.value,
        "teacher_epochs": TEACHER_EPOCHS.value,
        "batch_size": BATCH.value,
        "lr": LR.value,
        "limit": LIMIT.value,
        "threshold": THRESHOLD.value,
        "dense_macs": dense_macs,
        "train_examples": int(len(data[0][1])),
        "targeted": TARGETED.value,
        "budget_update_every": BUDGET_EVERY.value,
        "budget_max_strength": BUDGET_MAX.value,
    }
    results = {"config": config, "rows": rows}
    if MERGE.value and os.path.exists(OUT.value):
        results = merge_results(OUT.value, results)
    with open(OUT.value, "w") as f:
        json.dump(results, f, indent=1)
    write_report(results, OUT.value)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    app.run(main)
