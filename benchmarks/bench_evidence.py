"""The evidence benchmark: tf_compact against the baselines a user would
pick instead, on a converged teacher, at two operating points, over seeds.

One command per table: one teacher (a finished one from
`benchmarks/teachers.py`, loaded by `common.load_teacher`) and one
operating point:

| `--point` | MACs | params | accuracy goal |
|---|---|---|---|
| `4x10` | <= 1/4 of the teacher's | <= 1/10 | within 0.3 pp of the teacher |
| `10x50` | <= 1/10 | <= 1/50 | within 1.0 pp of the teacher |

Every arm gets the same student epoch budget (`--epochs`) and a fresh
copy of the same seeded data (the same random stream for every arm of a
seed, so the seeds pair the arms):

1. `oneshot`: `tfc.compress` with `tfc.methods.OneShot` (sensitivity
   allocation, widths rounded to 8) and logits KD for all the epochs
   (`common.tf_compact_oneshot`);
2. `budget`: `tfc.compress` with `tfc.methods.Budget` (group-sparse
   distillation steered by the budget controller, slimmed) for
   `--epochs - --finetune_epochs` epochs, then a KD fine-tune;
3. `l1`: one-shot L1 filter pruning to the targets + plain fine-tune;
4. `tfmot`: tensorflow-model-optimization magnitude pruning to the weight
   count of arm 1 (MACs unchanged); where the teacher's batch-norm weights
   and biases alone exceed that count (MobileNetV2), to arm 1's kernel
   weight count (`matched` in its row says which);
5. `scratch`: arm 1's slim architecture trained from scratch;
6. `keras_kd`: `keras.distillation` logits KD into that architecture;

and, where `bench_peers.py` has run on the same teacher at the same
point, settings and seeds, its two Torch-Pruning arms (one-shot
group-L2 + KD, GroupNormPruner) as two more baselines in the summary.

Each arm records test accuracy, MACs, params and the 1-thread float32
TFLite latency (median of `--latency_runs` invokes; the teacher is timed
again right after each arm, `teacher_float32_ms`), so the speed-up over
the teacher, set against the MACs reduction, compares timings taken
under the same load. A seed's arms are saved as they finish in
`benchmarks/results/evidence/<teacher>/<point>/seed<N>.json`: a rerun
skips finished seeds and finished arms, and retries an arm that failed
(its error is recorded, and reported in the summary, until it
succeeds). `summary.md` beside them pairs the seeds: mean accuracy and
its standard error per arm, and the paired differences of each
tf_compact arm against each baseline.

```shell
python benchmarks/bench_evidence.py --teacher=vgg --point=4x10 --seeds=0,1,2
python benchmarks/bench_evidence.py --teacher=vgg --point=10x50 --round_to=4 \\
    --seeds=0,1,2
```
"""

import json
import os
import time

import common
from absl import app
from absl import flags

#: Operating points: targets (fractions of the teacher) and accuracy goal.
POINTS = {
    "4x10": {"target_macs": 0.25, "target_params": 0.10, "goal_pp": 0.3},
    "10x50": {"target_macs": 0.10, "target_params": 0.02, "goal_pp": 1.0},
}
#: The arms, in run order: (key, label, tf_compact's own).
ARMS = (
    ("oneshot", "tf_compact one-shot sensitivity + KD", True),
    ("budget", "tf_compact budget controller + slim + KD", True),
    ("l1", "one-shot L1 prune + fine-tune", False),
    ("tfmot", "tfmot magnitude pruning (equal weights)", False),
    ("scratch", "slim architecture from scratch", False),
    ("keras_kd", "keras.distillation KD into slim", False),
)
#: Torch-Pruning's arms from `bench_peers.py` on the same teacher, point
#: and seeds, shown as two more baselines. They pair by seed: the peers'
#: tf_compact arm runs the one-shot arm's protocol on the same seeded data
#: (the summary says how closely it reproduced it).
PEER_ARMS = (
    ("tp_oneshot", "Torch-Pruning one-shot group-L2 + KD", False),
    (
        "tp_groupnorm",
        "Torch-Pruning GroupNormPruner (sparse, prune, KD)",
        False,
    ),
)
#: The peers' settings that must equal this run's for its seeds to pair.
PEER_SETTINGS = (
    "epochs",
    "learning_rate",
    "temperature",
    "student_loss_weight",
    "round_to",
    "limit",
)
#: The paired comparisons shown: tf_compact arms against the baselines.
OURS = [key for key, _, ours in ARMS if ours]
BASELINES = [key for key, _, ours in ARMS + PEER_ARMS if not ours]

TEACHER = flags.DEFINE_string(
    "teacher", "vgg", "Name of a teacher trained by benchmarks/teachers.py."
)
POINT = flags.DEFINE_enum("point", "4x10", sorted(POINTS), "Operating point.")
SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to run.")
EPOCHS = flags.DEFINE_integer(
    "epochs",
    4,
    "Student epochs of every arm (as bench_peers.py's, so the tf_compact "
    "arm is the same protocol in both).",
)
FINETUNE = flags.DEFINE_integer(
    "finetune_epochs",
    2,
    "Of the epochs, the KD fine-tune after the budget arm's sparse stage.",
)
LEARNING_RATE = flags.DEFINE_float(
    "learning_rate",
    5e-3,
    "Peak Adam learning rate of every arm (cosine).",
)
TEMPERATURE = flags.DEFINE_float("temperature", 4.0, "Logits-KD temperature.")
STUDENT_WEIGHT = flags.DEFINE_float(
    "student_loss_weight", 0.9, "Weight of the label loss in KD."
)
ROUND_TO = flags.DEFINE_integer(
    "round_to", 8, "Round pruned widths to a multiple of this (one-shot, L1)."
)
ARM = flags.DEFINE_list(
    "arms", [key for key, _, _ in ARMS], "Arms to run (subset, in order)."
)
LATENCY_RUNS = flags.DEFINE_integer(
    "latency_runs", 500, "Invokes per latency timing.", lower_bound=10
)
LIMIT = flags.DEFINE_integer("limit", None, "Cap on examples (quick runs).")
RESULTS = flags.DEFINE_string(
    "results_dir", common.RESULTS_DIR, "Where to write the results."
)
TEACHERS_DIR = flags.DEFINE_string(
    "teachers_dir", None, "Where the teachers are cached (unset: common's)."
)
WORK_DIR = flags.DEFINE_string(
    "work_dir", "/tmp/tf_compact_bench_evidence", "Checkpoints of the run."
)

#: Flags that change results (recorded in the command); the others only
#: say where files go.
RECORDED = (
    "teacher",
    "point",
    "epochs",
    "finetune_epochs",
    "learning_rate",
    "temperature",
    "student_loss_weight",
    "round_to",
    "arms",
    "latency_runs",
    "limit",
)


def _command(seed=None):
    text = common.command("benchmarks/bench_evidence.py", RECORDED)
    if seed is not None:
        text += f" --seeds={seed}"
    return text


def _folder():
    return os.path.join(RESULTS.value, "evidence", TEACHER.value, POINT.value)


def _targets():
    point = POINTS[POINT.value]
    return {
        "target_macs": point["target_macs"],
        "target_params": point["target_params"],
    }


def _latency(model):
    import tf_compact as tfc

    data = tfc.lite.convert(model, mode="float32")
    bench = tfc.lite.benchmark(data, num_threads=1, runs=LATENCY_RUNS.value)
    return bench.median_ms, f"{bench.runtime}/{bench.delegate}"


def _row(model, bundle, macs=None, params=None):
    """Accuracy (training=False), MACs, params and 1-thread latency."""
    import tf_compact as tfc
    from tf_compact.pipeline import training

    ms, runtime = _latency(model)
    return {
        "accuracy": float(training.accuracy(model, bundle.test)),
        "macs": int(tfc.profile(model).macs) if macs is None else macs,
        "params": int(model.count_params()) if params is None else params,
        "float32_ms": ms,
        "runtime": runtime,
    }


def _tfmot_row(stripped, nnz, bundle, macs):
    import numpy as np

    x, y = bundle.arrays()[2:]
    pred = np.argmax(stripped.predict(x, verbose=0), axis=-1)
    ms, runtime = _latency(stripped)
    return {
        "accuracy": float(np.mean(pred == y)),
        "macs": macs,
        "params": nnz,
        "float32_ms": ms,
        "runtime": runtime,
    }


def _compress_budget(teacher, bundle, output_dir):
    import tf_compact as tfc

    return tfc.compress(
        common.copy_model(teacher),
        bundle,
        method=tfc.methods.Budget(**_targets()),
        epochs=EPOCHS.value - FINETUNE.value,
        training=tfc.methods.Training(
            finetune_epochs=FINETUNE.value,
            learning_rate=LEARNING_RATE.value,
            temperature=TEMPERATURE.value,
            student_loss_weight=STUDENT_WEIGHT.value,
        ),
        export=tfc.methods.Export(tflite_modes=(), benchmark_runs=10),
        output_dir=output_dir,
        verbose=1,
    ).slim_model


def _sparsify_record(output_dir):
    """What the budget controller ended with: the threshold it slimmed at,
    the penalty strength and whether sparsity alone met the budget (from
    the run's `stages.json`)."""
    with open(os.path.join(output_dir, "stages.json"), encoding="utf-8") as f:
        record = json.load(f)["stages"].get("sparsify", {})
    return {
        "threshold": record.get("threshold"),
        "final_strength": record.get("final_strength"),
        "met_by_sparsity": record.get("met_by_sparsity"),
    }


def _run_arm(key, teacher, data, state, seed_dir):
    """Trains and measures arm `key` in `seed_dir/key`; `state` carries
    arm 1's slim model."""
    import keras

    work = os.path.join(seed_dir, key)
    epochs, lr = EPOCHS.value, LEARNING_RATE.value
    if key == "oneshot":
        bundle = data()
        slim = common.tf_compact_oneshot(
            teacher,
            bundle,
            work,
            **_targets(),
            epochs=epochs,
            round_to=ROUND_TO.value,
            learning_rate=lr,
            temperature=TEMPERATURE.value,
            student_loss_weight=STUDENT_WEIGHT.value,
            tflite_modes=(),
        ).slim_model
        os.makedirs(work, exist_ok=True)
        slim.save(os.path.join(work, "slim.keras"))
        state["slim"] = slim
        return _row(slim, bundle)
    if key == "budget":
        bundle = data()
        row = _row(_compress_budget(teacher, bundle, work), bundle)
        return {**row, **_sparsify_record(work)}
    if key == "l1":
        bundle = data()
        model = common.arm_l1_prune(
            teacher, bundle, epochs, lr, _targets(), ROUND_TO.value
        )
        return _row(model, bundle)
    slim = state.get("slim")
    if slim is None:
        path = os.path.join(seed_dir, "oneshot", "slim.keras")
        if not os.path.exists(path):
            raise ValueError(
                f"Arm {key!r} needs the one-shot arm's slim model: run the "
                f"arms with 'oneshot' first (received arms={ARM.value})."
            )
        slim = keras.saving.load_model(path, compile=False)
        state["slim"] = slim
    if key == "tfmot":
        bundle = data()
        sparsity, matched = common.tfmot_sparsity(
            teacher, slim.count_params(), student=slim
        )
        stripped, nnz = common.arm_tfmot(teacher, bundle, sparsity, epochs, lr)
        row = _tfmot_row(stripped, nnz, bundle, state["teacher_macs"])
        return {**row, "matched": matched, "kernel_sparsity": sparsity}
    if key == "scratch":
        bundle = data()
        return _row(common.arm_scratch(slim, bundle, epochs, lr), bundle)
    if key == "keras_kd":
        bundle = data()
        model = common.arm_keras_kd(
            teacher,
            slim,
            bundle,
            epochs,
            lr,
            temperature=TEMPERATURE.value,
            student_loss_weight=STUDENT_WEIGHT.value,
        )
        return _row(model, bundle)
    raise ValueError(
        f"Unknown arm {key!r}: expected one of {[k for k, _, _ in ARMS]}."
    )


#: Changes when an arm's protocol changes without a flag (2: the L1 arm at
#: the full learning rate, tfmot matched on kernels where needed), so
#: seeds of an older protocol run again.
RECIPE = 2


def _settings():
    """The values of the flags that change results, defaults included,
    and the protocol's `RECIPE`."""
    values = {name: flags.FLAGS[name].value for name in RECORDED}
    return {**values, "recipe": RECIPE}


def _work_settings():
    """`_settings()` without the arms run: a run of some arms shares its
    models with a run of others."""
    return {k: v for k, v in _settings().items() if k != "arms"}


def _same_run(record, teacher_info, seed):
    """Whether a seed record was made with these settings and teacher
    (the arms run are not a setting: a run of some arms keeps the
    others)."""
    del seed

    def settings(values):
        return {k: v for k, v in (values or {}).items() if k != "arms"}

    return settings(record.get("settings")) == settings(_settings()) and (
        record.get("teacher_info", {}).get("folder") == teacher_info["folder"]
    )


def run_seed(seed, teacher, teacher_info):
    """Runs (or finishes) every arm of one seed; returns its record."""

    path = common.result_path(_folder(), f"seed{seed}", ".json")
    record = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        if not _same_run(record, teacher_info, seed):
            print(f"seed {seed}: {path} has other settings, run again")
            record = {}
        failed = [k for k, v in record.get("arms", {}).items() if "error" in v]
        missing = [k for k in ARM.value if k not in record.get("arms", {})]
        if record.get("complete") and not failed and not missing:
            print(f"seed {seed}: cached in {path}")
            return record
    # Arms that failed before run again.
    arms = {k: v for k, v in record.get("arms", {}).items() if "error" not in v}

    def data():
        # A fresh copy of the seed's data for every arm: the same stream
        # for all arms of a seed (tighter pairs), none shared across seeds.
        return common.seeded_data(seed, 0, LIMIT.value)

    teacher_row = record.get("teacher")
    if teacher_row is None:
        teacher_row = _row(teacher, data())
    state = {"teacher_macs": teacher_row["macs"]}
    seed_dir = common.seed_work_dir(
        WORK_DIR.value,
        (TEACHER.value, POINT.value),
        _work_settings(),
        teacher_info["folder"],
        seed,
    )
    _rerun_lost_slim(arms, seed_dir)
    for key in ARM.value:
        if key in arms:
            continue
        start = time.time()
        try:
            row = _run_arm(key, teacher, data, state, seed_dir)
            # The teacher timed again beside the arm: the speed-up compares
            # two timings under the same load.
            row["teacher_float32_ms"] = _latency(teacher)[0]
        except Exception as error:  # noqa: BLE001 - recorded, others go on
            # An arm that cannot reach the point (or breaks) is recorded with
            # its error and the other arms still run; a rerun retries it.
            row = {"error": f"{type(error).__name__}: {error}"}
        row["seconds"] = round(time.time() - start, 1)
        arms[key] = row
        print(json.dumps({"seed": seed, "arm": key, **row}), flush=True)
        _save(path, seed, teacher_info, teacher_row, arms, complete=False)
    return _save(path, seed, teacher_info, teacher_row, arms, complete=True)


def _rerun_lost_slim(arms, seed_dir):
    """Drops the cached one-shot row when an arm still to run needs its
    slim model and the model file is gone (a cleared work folder), so the
    one-shot arm runs again."""
    needs = [k for k in ("tfmot", "scratch", "keras_kd") if k in ARM.value]
    rerun = "oneshot" in arms and "oneshot" in ARM.value
    if not rerun or all(k in arms for k in needs):
        return
    path = os.path.join(seed_dir, "oneshot", "slim.keras")
    if not os.path.exists(path):
        print(f"{path} is gone: the one-shot arm runs again")
        del arms["oneshot"]


def _save(path, seed, teacher_info, teacher_row, arms, complete):
    payload = {
        "seed": seed,
        "point": POINT.value,
        **POINTS[POINT.value],
        "epochs": EPOCHS.value,
        "teacher_name": TEACHER.value,
        "teacher_info": teacher_info,
        "teacher": teacher_row,
        "arms": arms,
        "complete": complete,
        "settings_command": _command(seed),
        "settings": _settings(),
    }
    common.write_json(path, payload)
    _reindex()
    return payload


def _reindex():
    """Keeps benchmarks/results/INDEX.md in step with new result files."""
    if os.path.abspath(RESULTS.value) == os.path.abspath(common.RESULTS_DIR):
        import make_index

        make_index.main([])


def peer_folder(point, round_to):
    """The `bench_peers.py` results folder name of an operating point
    (`macs25_params10`; a width multiple other than 8 appended)."""
    spec = POINTS[point]
    name = (
        f"macs{round(100 * spec['target_macs']):d}"
        f"_params{round(100 * spec['target_params']):d}"
    )
    return name + (f"_round{round_to}" if round_to != 8 else "")


def with_peers(records, peer_records):
    """`records` with the Torch-Pruning arms of the peer seed records of
    the same seeds added as arms, and the largest difference (pp) between
    the peers' tf_compact arm and the one-shot arm over those seeds (None
    when no seed pairs). Pure function."""
    by_seed = {
        p["seed"]: {row["arm"]: row for row in p["rows"]} for p in peer_records
    }
    merged, gaps = [], []
    for record in records:
        rows = by_seed.get(record["seed"], {})
        arms = dict(record["arms"])
        for key, _, _ in PEER_ARMS:
            if key in rows and "teacher" in rows:
                row = rows[key]
                arms[key] = {
                    "accuracy": row["accuracy"],
                    "macs": row["macs"],
                    "params": row["params"],
                    "float32_ms": row["litert_float32_ms"],
                    "teacher_float32_ms": rows["teacher"]["litert_float32_ms"],
                }
        own = arms.get("oneshot", {})
        if "tf_compact" in rows and "accuracy" in own:
            gap = rows["tf_compact"]["accuracy"] - own["accuracy"]
            gaps.append(100 * abs(gap))
        merged.append({**record, "arms": arms})
    return merged, (max(gaps) if gaps else None)


def summarize(records, teacher_name, point, command, peer_records=()):
    """The markdown summary of a point's seed records, with the
    Torch-Pruning arms of `peer_records` (`bench_peers.py` seeds of the
    same teacher and point) as baselines (pure function)."""
    spec = POINTS[point]
    records, peer_gap = with_peers(
        sorted(records, key=lambda r: r["seed"]), peer_records
    )
    seeds = [r["seed"] for r in records]
    teacher_acc = records[0]["teacher"]["accuracy"]
    labels = {key: label for key, label, _ in ARMS + PEER_ARMS}
    failed = {
        k: [
            (r["seed"], r["arms"][k]["error"])
            for r in records
            if "error" in r["arms"].get(k, {})
        ]
        for k, _, _ in ARMS + PEER_ARMS
    }
    keys = [
        k
        for k, _, _ in ARMS + PEER_ARMS
        if all(k in r["arms"] for r in records) and not failed[k]
    ]
    lines = [
        f"# Evidence: {teacher_name} teacher, point {point}",
        "",
        f"Command: `{command}`",
        "",
        f"Targets: MACs <= {spec['target_macs']:.0%} and params <= "
        f"{spec['target_params']:.0%} of the teacher; goal: within "
        f"{spec['goal_pp']} pp of the teacher's "
        f"{100 * teacher_acc:.2f}%. Seeds {', '.join(map(str, seeds))}; "
        f"{records[0]['epochs']} student epochs per arm; 1-thread float32 "
        "TFLite latency. Mean over seeds ± standard error.",
        "",
        "| arm | accuracy | vs teacher (pp) | MACs reduction | params "
        "reduction | speed-up | speed-up / MACs reduction |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key in keys:
        mean, se = common.paired([r["arms"][key]["accuracy"] for r in records])
        gap, gap_se, macs, params, speed = _arm_stats(records, key)
        lines.append(
            f"| {labels[key]} | {100 * mean:.2f}%{_se(se, 100)} | "
            f"{gap:+.2f}{_se(gap_se)} | {macs:.1f}x | {params:.1f}x | "
            f"{speed:.2f}x | {speed / macs:.2f} |"
        )
    lines += [
        "",
        "Paired differences in accuracy (pp, tf_compact arm minus baseline, "
        "over the same seeds); ahead means by at least two standard errors.",
        "",
        "| tf_compact arm | baseline | difference | ahead |",
        "|---|---|---:|---|",
    ]
    for ours in [k for k in OURS if k in keys]:
        for base in [k for k in BASELINES if k in keys]:
            diffs = [
                100
                * (r["arms"][ours]["accuracy"] - r["arms"][base]["accuracy"])
                for r in records
            ]
            mean, se = common.paired(diffs)
            ahead = "n/a (one seed)" if se is None else _ahead(mean, se)
            lines.append(
                f"| {labels[ours]} | {labels[base]} | {mean:+.2f}{_se(se)} | "
                f"{ahead} |"
            )
    if "budget" in keys and "oneshot" in keys:
        diffs = [
            100
            * (
                r["arms"]["budget"]["accuracy"]
                - r["arms"]["oneshot"]["accuracy"]
            )
            for r in records
        ]
        mean, se = common.paired(diffs)
        lines += [
            "",
            "Group-sparse training against one-shot pruning at the same "
            f"epochs ({labels['budget']} minus {labels['oneshot']}): "
            f"{mean:+.2f}{_se(se)} pp.",
        ]
    peer_seeds = sorted({p["seed"] for p in peer_records} & set(seeds))
    if peer_records and not any(k in keys for k, _, _ in PEER_ARMS):
        lines += [
            "",
            "No Torch-Pruning rows: `bench_peers.py` has finished seeds "
            f"{peer_seeds or 'none'} of these seeds {seeds} at this point; "
            "its rows show once it has them all.",
        ]
    if peer_gap is not None and any(k in keys for k, _, _ in PEER_ARMS):
        lines += [
            "",
            "The Torch-Pruning rows come from `bench_peers.py` on the same "
            "teacher, targets, epochs and seeds; its tf_compact arm, the "
            "one-shot arm's protocol on the same seeded data, differs from "
            f"the one-shot arm above by at most {peer_gap:.2f} pp.",
        ]
    for key, errors in failed.items():
        for seed, error in errors:
            lines.append(f"\n{labels[key]} failed on seed {seed}: {error}")
    lines += ["", "Goals:", ""]
    for ours in [k for k in OURS if k in keys]:
        gap, _, macs, params, speed = _arm_stats(records, ours)
        reached = (
            macs >= 1 / spec["target_macs"] - 1e-9
            and params >= 1 / spec["target_params"] - 1e-9
        )
        lines.append(
            f"- {labels[ours]}: targets {_met(reached)} ({macs:.1f}x MACs, "
            f"{params:.1f}x params); within {spec['goal_pp']} pp of the "
            f"teacher: {_met(gap >= -spec['goal_pp'])} ({gap:+.2f} pp); "
            f"speed-up / MACs reduction >= 0.85: "
            f"{_met(speed / macs >= 0.85)} ({speed / macs:.2f})."
        )
    lines.append("")
    return "\n".join(lines)


def _arm_stats(records, key):
    """Arm `key` over the seed records: its gap to the teacher (pp) and
    that gap's standard error, and its MACs reduction, params reduction
    and speed-up over the teacher (means over the seeds)."""
    gap, gap_se = common.paired(
        [
            100 * (r["arms"][key]["accuracy"] - r["teacher"]["accuracy"])
            for r in records
        ]
    )
    teacher = records[0]["teacher"]
    macs = teacher["macs"] / _mean([r["arms"][key]["macs"] for r in records])
    params = teacher["params"] / _mean(
        [r["arms"][key]["params"] for r in records]
    )
    speed = _mean(
        [
            r["arms"][key].get("teacher_float32_ms", r["teacher"]["float32_ms"])
            / r["arms"][key]["float32_ms"]
            for r in records
        ]
    )
    return gap, gap_se, macs, params, speed


def _mean(values):
    return sum(values) / len(values)


def _se(se, scale=1.0):
    return "" if se is None else f" ± {scale * se:.2f}"


def _ahead(mean, se):
    """ "yes" when a mean difference is positive by at least two standard
    errors."""
    return "yes" if mean > 0 and mean >= 2 * se else "no"


def _met(flag):
    return "met" if flag else "missed"


def main(argv):
    del argv
    unknown = set(ARM.value) - {k for k, _, _ in ARMS}
    if unknown:
        raise ValueError(
            f"Invalid value for flag `--arms`: {sorted(unknown)} are not "
            f"arms; expected some of {[k for k, _, _ in ARMS]}."
        )
    if not 0 <= FINETUNE.value < EPOCHS.value:
        raise ValueError(
            "Invalid value for flag `--finetune_epochs`: expected 0 <= it < "
            f"--epochs={EPOCHS.value}, received {FINETUNE.value}."
        )
    teacher_info, folder = common.teacher_record(
        TEACHER.value, TEACHERS_DIR.value
    )
    teacher = common.load_teacher(TEACHER.value, TEACHERS_DIR.value)
    teacher_info = {
        "folder": os.path.basename(folder),
        "test_accuracy": teacher_info.get("test_accuracy"),
        "command": teacher_info.get("run", {}).get("command"),
    }
    records = [run_seed(int(s), teacher, teacher_info) for s in SEEDS.value]
    seeds_done = []
    for name in sorted(os.listdir(_folder())):
        if name.startswith("seed") and name.endswith(".json"):
            with open(os.path.join(_folder(), name), encoding="utf-8") as f:
                record = json.load(f)
            if record.get("complete") and _same_run(
                record, teacher_info, record["seed"]
            ):
                seeds_done.append(record)
    del records
    seeds = ",".join(str(r["seed"]) for r in sorted(seeds_done, key=_seed))
    text = summarize(
        seeds_done,
        TEACHER.value,
        POINT.value,
        f"{_command()} --seeds={seeds}",
        _peer_records(teacher_info),
    )
    common.write_text(os.path.join(_folder(), "summary.md"), text)
    _reindex()
    print(text)


def _peer_records(teacher_info):
    """The finished `bench_peers.py` seeds on this teacher at this point
    with this run's settings."""
    folder = os.path.join(
        RESULTS.value,
        "peers",
        TEACHER.value,
        peer_folder(POINT.value, ROUND_TO.value),
    )
    records = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not (name.startswith("seed") and name.endswith(".json")):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            record = json.load(f)
        settings = record.get("settings", {})
        same = all(
            settings.get(k) == flags.FLAGS[k].value for k in PEER_SETTINGS
        )
        teacher = f"`benchmarks/teachers/{teacher_info['folder']}`"
        if same and teacher in record.get("teacher_source", ""):
            records.append(record)
    return records


def _seed(record):
    return record["seed"]


if __name__ == "__main__":
    app.run(main)
