"""Trade-off plots of the evidence benchmark, one figure per teacher.

Reads the finished seeds of `bench_evidence.py`
(`evidence/<teacher>/<point>/seed<N>.json`) and, when they are there, of
`bench_peers.py` on the same teacher (`peers/<teacher>/<point>/`: the
Torch-Pruning arms, and its tf_compact arm, the evidence one-shot arm's
protocol, where the evidence run has none yet), and draws two panels:
test accuracy against MACs (% of the teacher) and against 1-thread
float32 LiteRT latency (ms).
Every arm at every operating point is one marker at its mean over seeds
with an error bar of one standard error; the teacher is a dashed line
(accuracy) and a star (its latency).

```shell
python benchmarks/plot_evidence.py --teacher=vgg
```

writes `docs/images/evidence_vgg.png`.
"""

import json
import os

import bench_evidence
import common
from absl import app
from absl import flags

# `--teacher` and `--results_dir` are bench_evidence's flags.
OUTPUT = flags.DEFINE_string(
    "output", None, "PNG to write (unset: docs/images/evidence_<teacher>.png)."
)

#: Peer points named as the evidence points they match (widths in fours
#: at 10x50 are a point of their own).
PEER_POINTS = {
    "macs25_params10": "4x10",
    "macs10_params2": "10x50",
    "macs10_params2_round4": "10x50, widths in 4s",
}
#: Peer arms shown beside the evidence arms, and their labels.
PEER_ARMS = {
    "tp_oneshot": "Torch-Pruning one-shot + KD",
    "tp_groupnorm": "Torch-Pruning GroupNormPruner",
    "tf_compact_matched": "tf_compact at Torch-Pruning one-shot's cost",
}
#: One colour per arm: no grey or black, which the point markers and
#: the teacher use.
PALETTE = (
    "C0",
    "C1",
    "C2",
    "C3",
    "C4",
    "C5",
    "C6",
    "C8",
    "C9",
    "#17becf",
    "#bcbd22",
    "#393b79",
)
#: One marker per operating point.
MARKERS = {"4x10": "o", "10x50": "s", "10x50, widths in 4s": "D"}


def _complete(folder):
    records = []
    if not os.path.isdir(folder):
        return records
    for name in sorted(os.listdir(folder)):
        if not (name.startswith("seed") and name.endswith(".json")):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            record = json.load(f)
        if record.get("complete", True):
            records.append(record)
    return records


def _point_label(point, settings):
    """An evidence point's label: widths in multiples other than 8 make a
    point of their own (as `PEER_POINTS` names the peers' ones)."""
    round_to = settings.get("round_to", 8)
    return point if round_to == 8 else f"{point}, widths in {round_to}s"


def _stats(rows):
    """Mean/SE accuracy (%), mean MACs, and mean latency of one arm's rows."""
    accuracy, se = common.paired([100 * r["accuracy"] for r in rows])
    return {
        "accuracy": accuracy,
        "se": se or 0.0,
        "macs": sum(r["macs"] for r in rows) / len(rows),
        "ms": sum(r["ms"] for r in rows) / len(rows),
        "seeds": len(rows),
    }


def series(results_dir, teacher):
    """`(teacher_stats, points)` of one teacher from its result files.

    `points[(point, arm_label)]` holds the arm's mean accuracy (%), its
    standard error over seeds, its mean MACs and mean latency (ms), and
    the number of seeds; errors and unfinished arms are left out.
    """
    labels = {key: label for key, label, _ in bench_evidence.ARMS}
    arms, teachers = {}, []
    base = os.path.join(results_dir, "evidence", teacher)
    for name in sorted(bench_evidence.POINTS):
        for record in _complete(os.path.join(base, name)):
            point = _point_label(name, record.get("settings", {}))
            row = record["teacher"]
            teachers.append({**row, "ms": row["float32_ms"]})
            for key, row in record["arms"].items():
                if "error" not in row:
                    arms.setdefault((point, labels[key]), []).append(
                        {**row, "ms": row["float32_ms"]}
                    )
    peers = os.path.join(results_dir, "peers", teacher)
    ours = labels["oneshot"]
    peer_teachers = []
    for peer_point, point in PEER_POINTS.items():
        # The peers' tf_compact arm runs the evidence one-shot arm's
        # protocol: it stands in where the evidence run has no such arm.
        own = (point, ours) not in arms
        for record in _complete(os.path.join(peers, peer_point)):
            for row in record.get("rows", []):
                ms = {"ms": row.get("litert_float32_ms")}
                if row["arm"] == "teacher":
                    peer_teachers.append({**row, **ms})
                label = PEER_ARMS.get(row["arm"])
                if row["arm"] == "tf_compact" and own:
                    label = ours
                if label is not None:
                    arms.setdefault((point, label), []).append({**row, **ms})
    teachers = teachers or peer_teachers
    if not teachers:
        raise FileNotFoundError(
            f"No finished evidence or peers seed for teacher {teacher!r} "
            f"under {base}: run `python benchmarks/bench_evidence.py "
            f"--teacher={teacher}` first."
        )
    points = {key: _stats(rows) for key, rows in sorted(arms.items())}
    return _stats(teachers), points


def plot(results_dir, teacher, output):
    """Writes the two-panel figure of `series` to `output` (PNG)."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    reference, points = series(results_dir, teacher)
    fig, (by_macs, by_ms) = plt.subplots(1, 2, figsize=(11, 4.5))
    labels = sorted({label for _, label in points})
    colors = {
        label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)
    }
    for (point, label), stats in points.items():
        for ax, x in (
            (by_macs, 100 * stats["macs"] / reference["macs"]),
            (by_ms, stats["ms"]),
        ):
            ax.errorbar(
                x,
                stats["accuracy"],
                yerr=stats["se"],
                fmt=MARKERS.get(point, "^"),
                color=colors[label],
                capsize=3,
                markersize=6,
            )
    for ax in (by_macs, by_ms):
        ax.axhline(reference["accuracy"], color="k", ls="--", lw=1)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    by_ms.plot(reference["ms"], reference["accuracy"], "k*", markersize=10)
    by_macs.set_xscale("log")
    by_macs.xaxis.set_major_locator(
        matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0))
    )
    by_macs.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    by_macs.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    by_macs.set_xlabel("MACs (% of the teacher, log scale)")
    by_ms.set_xlabel("1-thread float32 LiteRT latency (ms)")
    handles = [
        plt.Line2D([], [], color=colors[label], marker="o", ls="", label=label)
        for label in labels
    ]
    handles += [
        plt.Line2D([], [], color="k", marker=m, ls="", label=f"point {p}")
        for p, m in MARKERS.items()
    ]
    handles.append(plt.Line2D([], [], color="k", ls="--", label="teacher"))
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7)
    fig.suptitle(
        f"{teacher} teacher ({reference['accuracy']:.2f}%): every finished "
        "arm, mean ± standard error over seeds"
    )
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return output


def main(argv):
    del argv
    output = OUTPUT.value or os.path.join(
        "docs", "images", f"evidence_{bench_evidence.TEACHER.value}.png"
    )
    print(
        plot(bench_evidence.RESULTS.value, bench_evidence.TEACHER.value, output)
    )


if __name__ == "__main__":
    app.run(main)
