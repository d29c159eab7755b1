"""Where `tfc.prune(target_latency=...)` lands against its target.

Each converged teacher of `benchmarks/teachers.py` named in `--teachers`
is pruned to `target_latency = f x` its measured latency for every `f` of
`--fractions` (global ranking, `round_to=--round_to`; `prune` builds the
latency table of `tf_compact.pruning.latency` itself, its probes cached on
disk). Each slim
model is then measured afresh: float32 TFLite, batch 1, `--threads`
interpreter threads, the best of `--repeats` rounds of `--runs` invokes
on `--instances` interpreters per model, the teacher timed in the same
rounds (`tf_compact.pruning.latency.measure_side_by_side`). Each teacher
is first measured five times back to back, to show how far one
measurement moves on the machine. The result is the ratio of measured
to target latency (the goal: within 10%), beside the table's prediction,
the MACs kept and the seconds `prune` took. No training: a model's latency
does not depend on its weights.

Results: `<results_dir>/<name>.json` and `.md`, with the command on top.

```shell
python benchmarks/bench_latency_landing.py
python benchmarks/bench_latency_landing.py --teachers=vgg --fractions=0.5
```
"""

import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402

TEACHERS = flags.DEFINE_list(
    "teachers",
    ["vgg", "resnet20", "mobilenet_v2"],
    "Converged teachers to prune (`benchmarks/teachers.py --teacher`).",
)
FRACTIONS = flags.DEFINE_list(
    "fractions",
    ["0.25", "0.35", "0.5", "0.7"],
    "Latency targets as fractions of each teacher's measured latency.",
)
ROUND_TO = flags.DEFINE_integer("round_to", 8, "`round_to` of every prune.")
THREADS = flags.DEFINE_integer("threads", 1, "Interpreter threads.")
RUNS = flags.DEFINE_integer("runs", 200, "Timed invokes per measurement.")
REPEATS = flags.DEFINE_integer(
    "repeats", 5, "Interleaved rounds per measurement; the best is kept."
)
INSTANCES = flags.DEFINE_integer(
    "instances", 3, "Interpreters per model; the best is kept."
)
TOLERANCE = flags.DEFINE_float(
    "goal", 0.10, "Relative distance from the target counted as landed."
)
NAME = flags.DEFINE_string("name", "landing", "Base name of the results.")
RESULTS = flags.DEFINE_string(
    "results_dir",
    os.path.join(common.RESULTS_DIR, "latency_budget"),
    "Where the JSON and markdown land.",
)


def _measure(models):
    """Best-of-rounds latency (ms) of each model, timed interleaved."""
    from tf_compact.pruning.latency import measure_side_by_side

    return measure_side_by_side(
        models, THREADS.value, RUNS.value, REPEATS.value, INSTANCES.value
    )


def _land(teacher, table, fraction, teacher_ms):
    """One prune to `fraction` of `teacher_ms`, measured afresh."""
    import tf_compact as tfc

    target = fraction * teacher_ms
    start = time.time()
    try:
        small = tfc.prune(
            teacher,
            target_latency=target,
            round_to=ROUND_TO.value,
            num_threads=THREADS.value,
        )
    except ValueError as error:  # out of reach at this `round_to`
        return {
            "fraction": fraction,
            "target_ms": target,
            "refused": str(error),
        }
    seconds = time.time() - start
    ms = _measure({"teacher": teacher, "small": small})
    # The target scaled to the teacher's time in the same rounds, so load
    # on the machine moves both sides alike.
    scaled = fraction * ms["teacher"]
    widths = {g.name: g.size for g in tfc.ChannelGraph(small).groups}
    macs = tfc.estimate_slim_cost(small)[0] / tfc.estimate_slim_cost(teacher)[0]
    ratio = ms["small"] / scaled
    return {
        "fraction": fraction,
        "target_ms": target,
        "teacher_ms": ms["teacher"],
        "measured_ms": ms["small"],
        "ratio": ratio,
        "landed": abs(ratio - 1.0) <= TOLERANCE.value,
        "predicted_ms": table.predict(widths),
        "macs_fraction": float(macs),
        "prune_seconds": seconds,
    }


def _markdown(payload):
    lines = [
        "# Where `tfc.prune(target_latency=...)` lands (Fashion-MNIST "
        "teachers)",
        "",
        f"`{payload['run']['command']}`",
        "",
        f"Machine: {payload['run']['machine']}; commit "
        f"`{payload['run']['git_sha']}`; {payload['threads']} interpreter "
        f"thread(s), float32, batch 1; best of {payload['repeats']} "
        f"interleaved rounds of {payload['runs']} invokes on "
        f"{payload.get('instances', 1)} interpreter(s) per model; round_to="
        f"{payload['round_to']}. Ratio = measured / (fraction x the "
        "teacher's time in the same rounds); goal within "
        f"{payload['goal']:.0%}. The additive prediction is the table's "
        "sum without the shared-layer correction `prune` applies (0 where "
        "the savings add up to more than the whole model).",
        "",
        "| teacher | fraction | target ms | measured ms | ratio | landed "
        "| measured / target ms | additive prediction ms | MACs kept "
        "| prune s |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for name, rows in payload["teachers"].items():
        for row in rows:
            if "refused" in row:
                lines.append(
                    f"| {name} | {row['fraction']:.2f} | "
                    f"{row['target_ms']:.4f} | refused: out of reach "
                    "| | | | | | |"
                )
                continue
            lines.append(
                f"| {name} | {row['fraction']:.2f} | {row['target_ms']:.4f} "
                f"| {row['measured_ms']:.4f} | {row['ratio']:.3f} | "
                f"{'yes' if row['landed'] else 'no'} | "
                f"{row['measured_ms'] / row['target_ms']:.3f} | "
                f"{row['predicted_ms']:.4f} | {row['macs_fraction']:.3f} | "
                f"{row['prune_seconds']:.0f} |"
            )
    lines += ["", "Five back-to-back measurements of each unpruned teacher:"]
    for name, spread in payload["teacher_timings"].items():
        low, high = min(spread), max(spread)
        lines.append(
            f"- {name}: {', '.join(f'{ms:.4f}' for ms in spread)} ms "
            f"(max/min {high / low:.2f})"
        )
    rows = [r for rs in payload["teachers"].values() for r in rs]
    landed = sum(r.get("landed", False) for r in rows)
    refused = sum("refused" in r for r in rows)
    near = sum(
        abs(r["measured_ms"] / r["target_ms"] - 1.0) <= payload["goal"]
        for r in rows
        if "refused" not in r
    )
    lines += [
        "",
        f"Landed within the goal: {landed} of {len(rows) - refused} "
        f"reachable targets ({refused} refused as out of reach, the "
        "message naming the smallest reachable latency); measured against "
        f"the target in milliseconds instead: {near} of "
        f"{len(rows) - refused}.",
        "",
    ]
    return "\n".join(lines)


def main(argv):
    del argv
    from tf_compact.pruning.latency import build_latency_table

    fractions = [float(f) for f in FRACTIONS.value]
    teachers, spreads = {}, {}
    for name in TEACHERS.value:
        teacher = common.load_teacher(name)
        # How much one measurement of the same model moves on this machine.
        spread = [_measure({"teacher": teacher})["teacher"] for _ in range(5)]
        teacher_ms = min(spread)
        spreads[name] = spread
        table = build_latency_table(
            teacher, num_threads=THREADS.value, round_to=ROUND_TO.value
        )
        teachers[name] = []
        for fraction in fractions:
            row = _land(teacher, table, fraction, teacher_ms)
            print(f"{name} {fraction:.2f}: {row.get('ratio', 'refused')}")
            teachers[name].append(row)
    payload = {
        "run": common.run_record(),
        "threads": THREADS.value,
        "runs": RUNS.value,
        "instances": INSTANCES.value,
        "repeats": REPEATS.value,
        "round_to": ROUND_TO.value,
        "goal": TOLERANCE.value,
        "teachers": teachers,
        "teacher_timings": spreads,
    }
    common.write_json(
        common.result_path(RESULTS.value, NAME.value, ".json"), payload
    )
    common.write_text(
        common.result_path(RESULTS.value, NAME.value, ".md"), _markdown(payload)
    )


if __name__ == "__main__":
    app.run(main)
