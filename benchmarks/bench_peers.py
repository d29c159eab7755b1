"""Torch-Pruning and tf_compact on the very same trained teacher.

The Keras teacher is ported to PyTorch (`peers_port`: conv kernels
HWIO → OIHW, BatchNorm γ/β/statistics with the same epsilon and momentum,
the Dense after Flatten with its rows in NCHW order, TensorFlow's
asymmetric 'same' padding as an explicit pad); the two teachers' test-set
logits must agree to `--max_logit_diff` or the run stops. Then, per seed,
at one operating point (MACs and params targets as fractions of the
teacher, both met):

1. tf_compact: `tfc.compress` one-shot L2 pruning with the sensitivity
   allocation, widths rounded to `--round_to`, then `--epochs` of KD
   (`common.tf_compact_oneshot`, the README headline's arm);
2. Torch-Pruning one-shot: `GroupMagnitudeImportance(p=2)`, global
   pruning, `round_to`, the classifier ignored, at the pruning ratio of
   the largest student that meets both targets, in one pruning step or,
   where one step cannot reach them, in five (`iterative_steps`, the
   ranking recomputed between steps, no training in between), then
   `--epochs` of KD;
3. Torch-Pruning `GroupNormPruner`: `--sparse_epochs` of KD with its group
   regularizer (`--reg`), pruned as in 2, then the remaining epochs of KD;
4. tf_compact at Torch-Pruning's cost: arm 1 with the MACs and params
   fractions of this seed's arm-2 student as its targets, paired with
   arm 2 (the same budget, allocated by each tool).

Every training run: batch 128, Adam (epsilon 1e-7), cosine decay from
`--learning_rate` over the stage, loss 0.9·CE + 0.1·T²·KL at T = 4, the
same 95% training split. MACs and params of every student come from
`tfc.profile` (Torch-Pruning's students are rebuilt in Keras with their
weights: `peers_port.to_keras`), latency is 1-thread batch-1 median on
LiteRT (float32) for every model and on PyTorch eager for every model
too (tf_compact's students are ported like the teacher).

Results: `benchmarks/results/peers/<teacher>/<point>/seed<N>.json` (a
seed already there is skipped; one missing some of `--arms` keeps its
rows and runs only those) and `summary.md` over the seeds found.

```shell
pip install -e ".[peers]"
python benchmarks/bench_peers.py --teacher=vgg --target_macs=0.25 \
    --target_params=0.10 --seeds=0,1,2
python benchmarks/bench_peers.py --teacher=vgg --target_macs=0.10 \
    --target_params=0.02 --seeds=0,1,2
```
"""

import copy
import hashlib
import json
import math
import os
import time

import common
import numpy as np
import summarize_seeds
from absl import app
from absl import flags
from absl import logging

TEACHER = flags.DEFINE_string(
    "teacher", "vgg", "Teacher architecture (tfc.models name)."
)
TEACHER_SOURCE = flags.DEFINE_enum(
    "teacher_source",
    "auto",
    ["auto", "store", "train"],
    "The converged teacher of benchmarks/teachers.py (store), one trained "
    "here for --teacher_epochs (train), or the first if it is there (auto).",
)
TEACHER_EPOCHS = flags.DEFINE_integer(
    "teacher_epochs",
    4,
    "Epochs of the teacher trained here when no converged teacher is "
    "available from the benchmarks' teacher store.",
)
TARGET_MACS = flags.DEFINE_float("target_macs", 0.25, "MACs target.")
TARGET_PARAMS = flags.DEFINE_float("target_params", 0.10, "Params target.")
SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to run.")
EPOCHS = flags.DEFINE_integer("epochs", 4, "Student epochs of every arm.")
SPARSE_EPOCHS = flags.DEFINE_integer(
    "sparse_epochs", 2, "Of --epochs, GroupNormPruner's sparse training."
)
LEARNING_RATE = flags.DEFINE_float("learning_rate", 5e-3, "Peak Adam rate.")
TEMPERATURE = flags.DEFINE_float("temperature", 4.0, "KD temperature.")
STUDENT_WEIGHT = flags.DEFINE_float(
    "student_loss_weight", 0.9, "Weight of the label loss in KD."
)
ROUND_TO = flags.DEFINE_integer("round_to", 8, "Width multiple.")
REG = flags.DEFINE_float(
    "reg", 1e-4, "GroupNormPruner's regularization (its own default)."
)
LIMIT = flags.DEFINE_integer("limit", None, "Cap on examples (quick runs).")
LATENCY_RUNS = flags.DEFINE_integer(
    "latency_runs", 500, "Invokes per latency timing (median)."
)
MAX_DIFF = flags.DEFINE_float(
    "max_logit_diff", 1e-4, "Largest allowed |Keras − PyTorch| teacher logit."
)
ARMS = flags.DEFINE_list(
    "arms",
    ["tf_compact", "tp_oneshot", "tp_groupnorm", "tf_compact_matched"],
    "Arms to run (tf_compact, tp_oneshot, tp_groupnorm, "
    "tf_compact_matched; the last needs tp_oneshot before it).",
)
RESULTS = flags.DEFINE_string(
    "results_dir", "benchmarks/results", "Where to write the results."
)
WORK_DIR = flags.DEFINE_string(
    "work_dir", "/tmp/tf_compact_bench_peers", "Teacher and checkpoints."
)

BATCH = 128
ADAM_EPSILON = 1e-7
ARM_LABELS = {
    "teacher": "teacher (Keras = PyTorch port)",
    "tf_compact": "tf_compact one-shot, sensitivity allocation + KD",
    "tp_oneshot": "Torch-Pruning one-shot group-L2 + KD",
    "tp_groupnorm": "Torch-Pruning GroupNormPruner (sparse, prune, KD)",
    "tf_compact_matched": (
        "tf_compact one-shot at Torch-Pruning one-shot's MACs and params"
    ),
}
#: Arms paired against another arm than `tf_compact` (`arm: reference`).
PAIRED_WITH = {"tf_compact_matched": "tp_oneshot"}


def point_name():
    """`macs25_params10` for targets 0.25 / 0.10; a width multiple other
    than 8 is appended (`macs10_params2_round4`)."""
    name = (
        f"macs{round(100 * TARGET_MACS.value):d}"
        f"_params{round(100 * TARGET_PARAMS.value):d}"
    )
    if ROUND_TO.value != 8:
        name += f"_round{ROUND_TO.value}"
    return name


def _command(seed=None):
    parts = ["python benchmarks/bench_peers.py"]
    for name in (
        "teacher",
        "teacher_source",
        "teacher_epochs",
        "target_macs",
        "target_params",
        "epochs",
        "sparse_epochs",
        "learning_rate",
        "temperature",
        "student_loss_weight",
        "round_to",
        "reg",
        "limit",
        "latency_runs",
        "arms",
    ):
        flag = flags.FLAGS[name]
        if flag.present:
            value = flag.value
            if isinstance(value, list):
                value = ",".join(value)
            parts.append(f"--{name}={value}")
    parts.append(
        f"--seeds={seed if seed is not None else ','.join(SEEDS.value)}"
    )
    return " ".join(parts)


# --- data and teacher -------------------------------------------------------


def _data(seed):
    return common.seeded_data(seed, 0, LIMIT.value)


def _stored_teacher(name):
    """`(model, folder name)` of the converged teacher of
    `benchmarks/teachers.py`, or `(None, None)`."""
    try:
        _, folder = common.teacher_record(name)
        model = common.load_teacher(name)
    except FileNotFoundError as error:
        logging.warning("No converged teacher %r: %s", name, error)
        return None, None
    return model, os.path.basename(folder)


def teacher():
    """`(model, description, label)`: the teacher the arms share.

    With `--teacher_source=store` (or `auto` when it is there) the
    converged teacher of `benchmarks/teachers.py` (`common.load_teacher`),
    labelled `--teacher`; with `train` (or `auto` when it is not there)
    `--teacher` trained here for `--teacher_epochs` on seed 0's data
    (cosine from 1e-3, as `bench_e2e.py`'s teacher), cached in
    `--work_dir` and labelled `<teacher>_e<epochs>`. The label names the
    results folder, so the two never share cached seeds.
    """
    import keras

    import tf_compact as tfc
    from tf_compact.pipeline import training

    if TEACHER_SOURCE.value != "train" and not LIMIT.value:
        model, folder = _stored_teacher(TEACHER.value)
        if model is not None:
            where = (
                f"converged {TEACHER.value} of benchmarks/teachers.py "
                f"(`benchmarks/teachers/{folder}`)"
            )
            return model, where, TEACHER.value
        if TEACHER_SOURCE.value == "store":
            raise FileNotFoundError(
                f"--teacher_source=store: no converged {TEACHER.value!r}; "
                f"train it with `python benchmarks/teachers.py "
                f"--teacher={TEACHER.value}`."
            )
    label = f"{TEACHER.value}_e{TEACHER_EPOCHS.value}"
    if LIMIT.value:
        label += f"_n{LIMIT.value}"
    path = os.path.join(WORK_DIR.value, f"teacher_{label}.keras")
    where = (
        f"{TEACHER.value} trained here for {TEACHER_EPOCHS.value} epochs "
        "(cosine from 1e-3, seed 0), not the converged teacher"
    )
    if os.path.exists(path):
        return keras.saving.load_model(path, compile=False), where, label
    bundle = _data(0)
    keras.utils.set_random_seed(0)
    model = tfc.models.get(
        TEACHER.value,
        input_shape=bundle.input_shape,
        num_classes=bundle.num_classes,
    )
    steps = int(bundle.train.cardinality()) * TEACHER_EPOCHS.value
    training.fit_classifier(
        model,
        bundle.train,
        TEACHER_EPOCHS.value,
        learning_rate=keras.optimizers.schedules.CosineDecay(1e-3, steps),
        verbose=2,
    )
    os.makedirs(WORK_DIR.value, exist_ok=True)
    model.save(path)
    return model, where, label


def check_port(model, net, x_test):
    """Max |Keras − PyTorch| logit over `x_test`; raises above the limit."""
    import peers_port

    keras_logits = model.predict(x_test, batch_size=1000, verbose=0)
    torch_logits = peers_port.logits(net, x_test)
    diff = float(np.abs(keras_logits - torch_logits).max())
    if not diff <= MAX_DIFF.value:
        raise RuntimeError(
            f"The PyTorch port of the teacher disagrees with it: max |logit "
            f"difference| {diff:.3g} over {len(x_test)} test images, above "
            f"--max_logit_diff={MAX_DIFF.value:g}."
        )
    return diff


# --- measuring --------------------------------------------------------------


def torch_latency_ms(net, input_shape, runs):
    """1-thread batch-1 median latency of `net` in PyTorch eager (ms)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    x = torch.zeros((1, input_shape[2], input_shape[0], input_shape[1]))
    net.eval()
    times = []
    with torch.inference_mode():
        for _ in range(max(10, runs // 10)):
            net(x)
        for _ in range(runs):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    torch.set_num_threads(threads)
    return 1e3 * float(np.median(times))


def measure(arm, model, net, bundle, teacher_cost):
    """Accuracy, MACs, params and both runtimes' latency of one model.

    `model` is the Keras model (tf_compact's, or Torch-Pruning's rebuilt),
    `net` its PyTorch counterpart; accuracy is PyTorch's for the
    Torch-Pruning arms (their Keras rebuild is checked to agree).
    """
    import peers_port

    import tf_compact as tfc

    x_test, y_test = bundle.arrays()[2:]
    cost = tfc.profile(model)
    keras_pred = np.argmax(
        model.predict(x_test, batch_size=1000, verbose=0), -1
    )
    torch_pred = np.argmax(peers_port.logits(net, x_test), -1)
    data = tfc.lite.convert(model, mode="float32")
    lite = tfc.lite.benchmark(data, num_threads=1, runs=LATENCY_RUNS.value)
    row = {
        "arm": arm,
        "accuracy_keras": float(np.mean(keras_pred == y_test)),
        "accuracy_torch": float(np.mean(torch_pred == y_test)),
        "macs": int(cost.macs),
        "params": int(cost.params),
        "macs_fraction": cost.macs / teacher_cost[0],
        "params_fraction": cost.params / teacher_cost[1],
        "widths": _widths(model),
        "litert_float32_ms": float(lite.median_ms),
        "litert_runtime": f"{lite.runtime}/{lite.delegate}",
        "torch_ms": torch_latency_ms(
            net, bundle.input_shape, LATENCY_RUNS.value
        ),
    }
    own = (
        "accuracy_keras"
        if arm in ("teacher", "tf_compact")
        else "accuracy_torch"
    )
    row["accuracy"] = row[own]
    print(json.dumps(row), flush=True)
    return row


def _widths(model):
    return {
        layer.name: int(getattr(layer, "filters", None) or layer.units)
        for layer in model.layers
        if hasattr(layer, "filters") or hasattr(layer, "units")
    }


# --- training in PyTorch ----------------------------------------------------


def kd_train(net, x_train, y_train, teacher_logits, epochs, seed, pruner=None):
    """KD training of `net`: the loss, optimizer and schedule of tf_compact.

    0.9·CE + 0.1·T²·KL(teacher ‖ student) at T, Adam (epsilon 1e-7), cosine
    decay from `--learning_rate` to 0 over the stage's steps, batch 128,
    a fresh permutation per epoch from `seed`; `pruner` (a
    `GroupNormPruner`) adds its regularizer's gradient before each step.
    """
    import torch
    import torch.nn.functional as F

    if epochs <= 0:
        return net
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(
        net.parameters(), lr=LEARNING_RATE.value, eps=ADAM_EPSILON
    )
    n = len(x_train)
    per_epoch = math.ceil(n / BATCH)
    total = per_epoch * epochs
    t = TEMPERATURE.value
    alpha = STUDENT_WEIGHT.value
    x_all = torch.from_numpy(x_train)
    y_all = torch.from_numpy(y_train.astype(np.int64))
    t_all = torch.from_numpy(teacher_logits)
    step = 0
    for epoch in range(epochs):
        net.train()
        order = torch.from_numpy(rng.permutation(n))
        seen = correct = 0
        loss_sum = 0.0
        for start in range(0, n, BATCH):
            idx = order[start : start + BATCH]
            rate = (
                0.5
                * LEARNING_RATE.value
                * (1 + math.cos(math.pi * step / total))
            )
            for group in optimizer.param_groups:
                group["lr"] = rate
            out = net(x_all[idx])
            y = y_all[idx]
            kl = F.kl_div(
                F.log_softmax(out / t, dim=1),
                F.softmax(t_all[idx] / t, dim=1),
                reduction="batchmean",
            )
            loss = alpha * F.cross_entropy(out, y) + (1 - alpha) * t * t * kl
            optimizer.zero_grad()
            loss.backward()
            if pruner is not None:
                pruner.regularize(net)
            optimizer.step()
            step += 1
            seen += len(idx)
            correct += int((out.argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(idx)
        print(
            f"epoch {epoch + 1}/{epochs}: loss {loss_sum / seen:.4f}, "
            f"accuracy {correct / seen:.4f}",
            flush=True,
        )
    return net.eval()


# --- Torch-Pruning ----------------------------------------------------------


#: Torch-Pruning's `iterative_steps` tried in turn: one step, then the
#: several-step schedule its documentation suggests for high ratios (the
#: ranking is recomputed between steps, no training in between).
TP_STEPS = (1, 5)


def _pruner(net, ratio, example, cls=None, steps=1, **kwargs):
    import torch_pruning as tp

    cls = cls or tp.pruner.MetaPruner
    return cls(
        net,
        example,
        importance=tp.importance.GroupMagnitudeImportance(p=2),
        global_pruning=True,
        pruning_ratio=ratio,
        iterative_steps=steps,
        ignored_layers=[net.classifier()],
        round_to=ROUND_TO.value,
        **kwargs,
    )


def _prune(pruner, steps):
    for _ in range(steps):
        pruner.step()


_COSTS = {}


def _cost_at(net, ratio, example, teacher_model, steps=1):
    """`(macs, params)` by `tfc.profile` of `net` pruned at `ratio` in
    `steps` steps."""
    import peers_convert

    import tf_compact as tfc

    trial = copy.deepcopy(net)
    _prune(_pruner(trial, ratio, example, steps=steps), steps)
    widths = tuple(
        (name, int(trial.core(name).weight.shape[0]))
        for name, kind in trial.kinds.items()
        if kind in ("conv", "dense")
    )
    key = (teacher_model.name, widths)
    if key not in _COSTS:
        cost = tfc.profile(peers_convert.rebuild(teacher_model, dict(widths)))
        _COSTS[key] = (cost.macs, cost.params)
    return _COSTS[key]


def steps_and_ratio(net, example, teacher_model, teacher_cost):
    """`(steps, ratio)`: the fewest of `TP_STEPS` at which some global
    ratio meets both targets, and that ratio (`ratio_for_targets`)."""
    for steps in TP_STEPS:
        try:
            ratio = ratio_for_targets(
                net, example, teacher_model, teacher_cost, steps=steps
            )
        except RuntimeError:
            if steps == TP_STEPS[-1]:
                raise
            continue
        return steps, ratio


def ratio_for_targets(
    net, example, teacher_model, teacher_cost, step=0.05, steps=1
):
    """The global pruning ratio of the largest student meeting both targets.

    Torch-Pruning rounds every group to `round_to` channels and skips a
    group that its ratio would empty, so the cost moves in jumps and is
    not monotone near ratio 1. The ratio is scanned upwards in `step`s to
    the first one that meets the targets, then the window from one step
    below it to one step above is scanned in tenths of a step; where no
    `step` meets them (the ratios that do can lie between two steps), the
    whole range is scanned in tenths. Of the ratios that meet both
    targets, the one with the most parameters (then MACs) wins, so
    Torch-Pruning's student is as large as the budget allows. Each trial
    prunes a copy of `net` and counts its Keras rebuild with
    `tfc.profile`.
    """
    limits = (
        TARGET_MACS.value * teacher_cost[0],
        TARGET_PARAMS.value * teacher_cost[1],
    )
    trials = {}

    def cost(ratio):
        ratio = round(ratio, 6)
        if ratio not in trials:
            trials[ratio] = _cost_at(net, ratio, example, teacher_model, steps)
        return trials[ratio]

    def meets(ratio):
        macs, params = cost(ratio)
        return macs <= limits[0] and params <= limits[1]

    fine = step / 10
    coarse = [k * step for k in range(1, round(1 / step))]
    first = next((r for r in coarse if meets(r)), None)
    if first is None:
        window = [k * fine for k in range(1, round(1 / fine))]
    else:
        window = [first - step + k * fine for k in range(1, 20)]
    ok = [r for r in window if 0 < r < 1 and meets(r)]
    if not ok:
        raise RuntimeError(
            "Torch-Pruning cannot reach the targets at any pruning ratio "
            f"in {steps} step(s) (MACs <= {limits[0]:.0f}, params <= "
            f"{limits[1]:.0f})."
        )
    best = max(ok, key=lambda r: (cost(r)[1], cost(r)[0], -r))
    return round(best, 6)


def arm_tp_oneshot(teacher_model, bundle, teacher_logits, teacher_cost, seed):
    import peers_port

    net = peers_port.to_torch(teacher_model)
    example = _example(bundle)
    steps, ratio = steps_and_ratio(net, example, teacher_model, teacher_cost)
    _prune(_pruner(net, ratio, example, steps=steps), steps)
    x_train, y_train = _train_arrays(bundle)
    kd_train(net, x_train, y_train, teacher_logits, EPOCHS.value, seed)
    return net, {"pruning_ratio": ratio, "iterative_steps": steps}


def arm_tp_groupnorm(teacher_model, bundle, teacher_logits, teacher_cost, seed):
    import peers_port
    import torch_pruning as tp

    net = peers_port.to_torch(teacher_model)
    example = _example(bundle)
    x_train, y_train = _train_arrays(bundle)
    sparse = _pruner(
        net, 0.5, example, cls=tp.pruner.GroupNormPruner, reg=REG.value
    )
    kd_train(
        net,
        x_train,
        y_train,
        teacher_logits,
        SPARSE_EPOCHS.value,
        seed,
        pruner=sparse,
    )
    steps, ratio = steps_and_ratio(net, example, teacher_model, teacher_cost)
    pruner = _pruner(
        net,
        ratio,
        example,
        cls=tp.pruner.GroupNormPruner,
        steps=steps,
        reg=REG.value,
    )
    _prune(pruner, steps)
    kd_train(
        net,
        x_train,
        y_train,
        teacher_logits,
        EPOCHS.value - SPARSE_EPOCHS.value,
        seed + 1000,
    )
    return net, {
        "pruning_ratio": ratio,
        "iterative_steps": steps,
        "reg": REG.value,
    }


def _example(bundle):
    import torch

    h, w, c = bundle.input_shape
    return torch.zeros((1, c, h, w))


def _train_arrays(bundle):
    x_train, y_train = bundle.arrays()[:2]
    return (
        np.ascontiguousarray(np.transpose(x_train, (0, 3, 1, 2)), "float32"),
        y_train,
    )


# --- one seed ---------------------------------------------------------------


def _matched_targets(entries):
    """The MACs and params fractions of the Torch-Pruning one-shot student
    of this seed: `tf_compact_matched`'s targets."""
    if "tp_oneshot" not in entries:
        raise ValueError(
            "Arm 'tf_compact_matched' takes the Torch-Pruning one-shot "
            "student's MACs and params as its targets: list tp_oneshot "
            "before it in --arms."
        )
    row = entries["tp_oneshot"]["row"]
    return {
        "target_macs": row["macs_fraction"],
        "target_params": row["params_fraction"],
    }


def _run_arm(
    arm, seed, teacher_model, teacher_logits, teacher_cost, cache, entries
):
    """Trains one arm; returns `(keras model, torch net, arm settings)`.

    `entries` holds the rows of the arms already run at this seed; `cache`
    is the seed's folder for these settings and teacher (tf_compact's
    arms keep their resumable compress runs under it)."""
    import keras
    import peers_port

    bundle = _data(seed)
    if arm in ("tf_compact", "tf_compact_matched"):
        targets = {
            "target_macs": TARGET_MACS.value,
            "target_params": TARGET_PARAMS.value,
        }
        if arm == "tf_compact_matched":
            targets = _matched_targets(entries)
        result = common.tf_compact_oneshot(
            teacher_model,
            bundle,
            os.path.join(cache, arm),
            **targets,
            epochs=EPOCHS.value,
            round_to=ROUND_TO.value,
            learning_rate=LEARNING_RATE.value,
            temperature=TEMPERATURE.value,
            student_loss_weight=STUDENT_WEIGHT.value,
        )
        model = result.slim_model
        settings = targets if arm == "tf_compact_matched" else {}
        return model, peers_port.to_torch(model), settings, bundle
    fn = {"tp_oneshot": arm_tp_oneshot, "tp_groupnorm": arm_tp_groupnorm}
    keras.utils.set_random_seed(seed)
    net, settings = fn[arm](
        teacher_model, bundle, teacher_logits, teacher_cost, seed
    )
    return peers_port.to_keras(net, teacher_model), net, settings, bundle


def _written_arms(path, settings, where):
    """`{arm: {"row", "settings"}}` of a seed file already written with
    these `settings` and this teacher (`where`): a rerun with more arms
    keeps its rows and runs only the new arms; one with other settings or
    another teacher runs every arm again."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if record.get("settings") != settings or (
        record.get("teacher_source") != where
    ):
        return {}
    settings = record.get("arm_settings", {})
    return {
        row["arm"]: {"row": row, "settings": settings.get(row["arm"], {})}
        for row in record["rows"]
    }


def run_seed(seed, teacher_model, where, folder):
    """Runs every arm at one seed; each arm's row is cached on its own
    (`--work_dir`), `seed<N>.json` is written once all are done."""
    import peers_port
    import torch

    import tf_compact as tfc

    path = common.result_path(RESULTS.value, f"{folder}/seed{seed}", ".json")
    entries = _written_arms(path, _settings(), where)
    if {"teacher", *ARMS.value} <= set(entries):
        print(f"seed {seed}: {path} has every arm, skipped")
        return
    # Per-arm rows of an unfinished seed, keyed by the settings.
    key = hashlib.sha1(
        json.dumps([_settings(), where], sort_keys=True).encode()
    ).hexdigest()[:10]
    cache = os.path.join(WORK_DIR.value, folder, key, f"seed{seed}")
    os.makedirs(cache, exist_ok=True)
    start = time.time()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    bundle = _data(seed)
    teacher_net = peers_port.to_torch(teacher_model)
    diff = check_port(teacher_model, teacher_net, bundle.arrays()[2])
    cost = tfc.profile(teacher_model)
    teacher_cost = (cost.macs, cost.params)
    teacher_logits = None
    for arm in ["teacher"] + list(ARMS.value):
        arm_path = os.path.join(cache, f"{arm}.json")
        if arm in entries:
            continue
        if os.path.exists(arm_path):
            with open(arm_path, encoding="utf-8") as f:
                entries[arm] = json.load(f)
            continue
        if arm == "teacher":
            model, net, settings = teacher_model, teacher_net, {}
        else:
            if teacher_logits is None:
                teacher_logits = teacher_model.predict(
                    bundle.arrays()[0], batch_size=1000, verbose=0
                )
            model, net, settings, bundle = _run_arm(
                arm,
                seed,
                teacher_model,
                teacher_logits,
                teacher_cost,
                cache,
                entries,
            )
        row = measure(arm, model, net, bundle, teacher_cost)
        entries[arm] = {"row": row, "settings": settings}
        with open(arm_path, "w", encoding="utf-8") as f:
            json.dump(entries[arm], f, indent=2)
    common.write_json(
        path,
        {
            "teacher_source": where,
            "point": point_name(),
            "seed": seed,
            "settings": _settings(),
            "teacher_logit_max_abs_diff": diff,
            "rows": [entries[arm]["row"] for arm in entries],
            "arm_settings": {
                arm: entry["settings"]
                for arm, entry in entries.items()
                if entry["settings"]
            },
            "seconds_this_run": time.time() - start,
        },
    )
    # The run record's command is the one that reproduces this seed alone.
    _set_command(path, _command(seed))


def _set_command(path, command):
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    record["run"]["command"] = command
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)


def _settings():
    """The settings that change results. `reg` is among them only when it
    is not GroupNormPruner's default, so runs made before it was recorded
    keep their caches."""
    settings = {
        "epochs": EPOCHS.value,
        "sparse_epochs": SPARSE_EPOCHS.value,
        "learning_rate": LEARNING_RATE.value,
        "schedule": "cosine",
        "batch_size": BATCH,
        "adam_epsilon": ADAM_EPSILON,
        "temperature": TEMPERATURE.value,
        "student_loss_weight": STUDENT_WEIGHT.value,
        "round_to": ROUND_TO.value,
        "target_macs": TARGET_MACS.value,
        "target_params": TARGET_PARAMS.value,
        "limit": LIMIT.value,
    }
    if REG.value != REG.default:
        settings["reg"] = REG.value
    return settings


# --- summary ----------------------------------------------------------------


def summary(folder, label, where=None):
    """`summary.md` of the `seed<N>.json` in the point's folder made with
    these settings (and, given `where`, this teacher)."""
    directory = os.path.join(RESULTS.value, folder)
    records = []
    for name in sorted(os.listdir(directory)):
        if name.startswith("seed") and name.endswith(".json"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                record = json.load(f)
            same = record.get("settings") == _settings() and (
                where is None or record.get("teacher_source") == where
            )
            if same:
                records.append(record)
            else:
                print(f"{name}: other settings or teacher, left out")
    if not records:
        return None
    records.sort(key=lambda r: r["seed"])
    table, rows_by_arm = {}, {}
    for record in records:
        for row in record["rows"]:
            table.setdefault(row["arm"], {})[record["seed"]] = row["accuracy"]
            rows_by_arm.setdefault(row["arm"], []).append(row)
    seeds = [r["seed"] for r in records]
    first = records[0]
    lines = [
        f"# Torch-Pruning beside tf_compact: {label}, {point_name()}",
        "",
        f"Command: `{_command()}`",
        "",
        f"Teacher: {first['teacher_source']}; Keras and PyTorch logits of "
        "the teacher agree to "
        f"{max(r['teacher_logit_max_abs_diff'] for r in records):.1e} "
        "(max |difference| over the test set). Targets MACs <= "
        f"{TARGET_MACS.value:.0%}, params <= {TARGET_PARAMS.value:.0%} of "
        f"the teacher; {EPOCHS.value} student epochs per arm "
        f"(GroupNormPruner: {SPARSE_EPOCHS.value} sparse + "
        f"{EPOCHS.value - SPARSE_EPOCHS.value} KD), batch {BATCH}, Adam "
        f"(eps 1e-7), cosine from {LEARNING_RATE.value:g}, KD "
        f"{STUDENT_WEIGHT.value:g}·CE + {1 - STUDENT_WEIGHT.value:.1f}·T²·KL "
        f"at T = {TEMPERATURE.value:g}"
        + (f", first {LIMIT.value} examples" if LIMIT.value else "")
        + ". MACs and params by `tfc.profile` for every model (Torch-Pruning "
        "students rebuilt in Keras); latency: 1 thread, batch 1, median of "
        f"{LATENCY_RUNS.value} runs, median over seeds. Machine: "
        f"{first['run']['machine']}.",
        "",
        "| arm | "
        + " | ".join(f"seed {s}" for s in seeds)
        + " | mean ± sd | tf_compact − arm, or as named (paired, ± se) | "
        "MACs | params | "
        "LiteRT ms | PyTorch ms |",
        "|---|" + "---:|" * (len(seeds) + 6),
    ]
    for arm, by_seed in table.items():
        accs = [by_seed.get(s) for s in seeds]
        mean, sd = summarize_seeds.mean_sd([a for a in accs if a is not None])
        diff = "–"
        if arm in PAIRED_WITH and PAIRED_WITH[arm] in table:
            # This arm minus its own reference, e.g. vs TP one-shot.
            paired = summarize_seeds.paired(table, PAIRED_WITH[arm], arm)
            if paired:
                d, se, n = paired
                diff = f"{d:+.2f} ± {se:.2f} pp (n={n}, vs {PAIRED_WITH[arm]})"
        elif arm != "tf_compact" and "tf_compact" in table:
            paired = summarize_seeds.paired(table, arm, "tf_compact")
            if paired:
                d, se, n = paired
                diff = f"{d:+.2f} ± {se:.2f} pp (n={n})"
        rows = rows_by_arm[arm]
        lines.append(
            f"| {ARM_LABELS.get(arm, arm)} | "
            + " | ".join("–" if a is None else f"{100 * a:.2f}%" for a in accs)
            + f" | {100 * mean:.2f} ± {100 * sd:.2f}% | {diff} | "
            f"{np.mean([r['macs_fraction'] for r in rows]):.1%} | "
            f"{np.mean([r['params_fraction'] for r in rows]):.1%} | "
            f"{np.median([r['litert_float32_ms'] for r in rows]):.3f} | "
            f"{np.median([r['torch_ms'] for r in rows]):.3f} |"
        )
    lines += ["", _verdict(table), ""]
    text = "\n".join(lines)
    common.write_text(os.path.join(directory, "summary.md"), text)
    return text


def _verdict(table):
    if "tf_compact" not in table:
        return "No tf_compact arm: no comparison."
    words = []
    for arm in table:
        if arm in ("teacher", "tf_compact") or arm in PAIRED_WITH:
            continue
        words.append(_ahead("tf_compact", arm, table))
    words = [w for w in words if w]
    text = "tf_compact " + "; ".join(words) + "." if words else ""
    for arm, reference in PAIRED_WITH.items():
        if arm in table and reference in table:
            text += f" {ARM_LABELS[arm]}: " + _ahead(arm, reference, table)
            text += "."
    return text.strip()


def _ahead(ours, arm, table):
    paired = summarize_seeds.paired(table, arm, ours)
    if not paired:
        return ""
    d, se, n = paired
    ahead = n >= 2 and d >= 2 * se and d > 0
    return (
        f"ahead of {ARM_LABELS.get(arm, arm)} by at least two standard "
        f"errors: {'yes' if ahead else 'no'} ({d:+.2f} ± {se:.2f} pp, n={n})"
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    unknown = set(ARMS.value) - set(ARM_LABELS) - {"teacher"}
    if unknown:
        raise app.UsageError(
            f"Invalid value for flag `--arms`: {sorted(unknown)}. Expected "
            f"some of {sorted(set(ARM_LABELS) - {'teacher'})}."
        )
    arms = list(ARMS.value)
    if "tf_compact_matched" in arms and (
        "tp_oneshot" in arms
        and arms.index("tp_oneshot") > arms.index("tf_compact_matched")
    ):
        raise app.UsageError(
            "Invalid value for flag `--arms`: tf_compact_matched takes the "
            "Torch-Pruning one-shot student's cost, so tp_oneshot must come "
            f"before it (received {','.join(arms)})."
        )
    os.makedirs(WORK_DIR.value, exist_ok=True)
    teacher_model, where, label = teacher()
    folder = f"peers/{label}/{point_name()}"
    for seed in SEEDS.value:
        run_seed(int(seed), teacher_model, where, folder)
    text = summary(folder, label, where)
    if text:
        print(text)


if __name__ == "__main__":
    app.run(main)
