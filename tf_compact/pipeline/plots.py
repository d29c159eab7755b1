"""PNG plots of a `compress` run (matplotlib, imported lazily, Agg backend).

- `tradeoff.png`: accuracy against MACs for the teacher, the compressed
  model and any baselines given to `compress`.
- `widths.png`: output channels per conv/dense layer, before and after.
- `strength.png`: the sparsity strength λ (and the fraction of groups
  below threshold) over the sparse-training epochs.
- `schedule.png`: the MACs/params fractions kept at every mask update of
  `method="gradual"`, against the cubic schedule.
"""

import math
import os


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def tradeoff(path, points):
    """Accuracy vs MACs scatter plot.

    Args:
        path: PNG file to write.
        points: list of dicts with `name`, `macs`, `accuracy`.

    Returns:
        `path`, or None when no point has both values.
    """
    points = [
        p
        for p in points
        if p.get("macs") is not None and p.get("accuracy") is not None
    ]
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for p, (dx, dy, side) in zip(points, _label_offsets(points)):
        ax.scatter(p["macs"] / 1e6, 100 * p["accuracy"], s=40)
        ax.annotate(
            p["name"],
            (p["macs"] / 1e6, 100 * p["accuracy"]),
            textcoords="offset points",
            xytext=(dx, dy),
            ha=side,
            fontsize=8,
        )
    ax.margins(x=0.12, y=0.12)
    ax.set_xscale("log")
    plain = plt.FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.set_xlabel("MACs (millions, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs MACs")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _label_offsets(points):
    """Label offsets `(dx, dy, ha)` in points: labels of points that
    (nearly) coincide are stacked, labels on the right half go left."""
    xs = [math.log10(max(p["macs"], 1)) for p in points]
    ys = [100 * p["accuracy"] for p in points]
    x_span = max(max(xs) - min(xs), 0.3)
    y_span = max(max(ys) - min(ys), 2.0)
    offsets = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        near = sum(
            abs(x - xs[j]) < 0.05 * x_span and abs(y - ys[j]) < 0.08 * y_span
            for j in range(i)
        )
        side = "right" if x - min(xs) > 0.6 * x_span else "left"
        offsets.append((-6 if side == "right" else 6, 4 - 11 * near, side))
    return offsets


def widths(path, before, after):
    """Grouped bars of channels per layer, before and after compression.

    Args:
        path: PNG file to write.
        before: `{layer: channels}` of the teacher.
        after: `{layer: channels}` of the compressed model.

    Returns:
        `path`, or None when `before` is empty.
    """
    if not before:
        return None
    plt = _pyplot()
    names = list(before)
    extra = [n for n in after if n not in before]
    names += extra
    xs = range(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(names)), 4))
    ax.bar(
        [x - 0.2 for x in xs],
        [before.get(n, 0) for n in names],
        0.4,
        label="before",
    )
    ax.bar(
        [x + 0.2 for x in xs],
        [after.get(n, 0) for n in names],
        0.4,
        label="after",
    )
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=75, fontsize=7)
    ax.set_ylabel("output channels")
    ax.set_title("Layer widths before and after")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def strength(path, history):
    """λ (and group sparsity) per epoch of sparse training.

    Args:
        path: PNG file to write.
        history: `{metric: [per-epoch values]}`; uses `sparsity_strength`
            and, when present, `group_sparsity`.

    Returns:
        `path`, or None when the history has no `sparsity_strength`.
    """
    values = history.get("sparsity_strength") if history else None
    if not values:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = range(1, len(values) + 1)
    ax.plot(epochs, values, marker="o", label="λ (sparsity_strength)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("λ")
    ax.set_yscale("log" if min(values) > 0 else "linear")
    sparsity = history.get("group_sparsity")
    if sparsity:
        twin = ax.twinx()
        twin.plot(
            epochs,
            sparsity,
            color="C1",
            marker="s",
            label="groups below threshold",
        )
        twin.set_ylabel("fraction of groups below threshold")
        twin.set_ylim(0, 1)
        twin.legend(loc="lower right")
    ax.legend(loc="upper left")
    ax.set_title("Sparsity strength over training")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def schedule(path, updates):
    """Kept MACs/params fraction at every mask update of gradual pruning.

    Args:
        path: PNG file to write.
        updates: `GradualPruning.updates`: dicts with `step` and, per
            target kind, `goal_<kind>` and `<kind>_fraction`.

    Returns:
        `path`, or None when there are no updates.
    """
    if not updates:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = [u["step"] for u in updates]
    for i, kind in enumerate(("macs", "params")):
        if f"{kind}_fraction" not in updates[0]:
            continue
        label = "MACs" if kind == "macs" else "params"
        series = (
            (f"{kind}_fraction", "-", "kept"),
            (f"goal_{kind}", "--", "schedule"),
        )
        for key, style, what in series:
            ax.plot(
                steps,
                [u[key] for u in updates],
                color=f"C{i}",
                linestyle=style,
                marker="." if what == "kept" else None,
                label=f"{label} {what}",
            )
    ax.set_xlabel("training step")
    ax.set_ylabel("fraction of the student before pruning")
    ax.set_ylim(0, 1.05)
    ax.legend()
    ax.set_title("Gradual pruning schedule")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(output_dir, report, records, baselines=()):
    """Writes every plot that has data; returns the file names written."""
    teacher = records.get("teacher", {})
    final = records.get("finetune") or records.get("slim") or {}
    points = [dict(report["teacher"], name="teacher")]
    points.append(dict(report["student"], name="tf_compact"))
    int8 = report.get("tflite", {}).get("int8", {})
    if int8.get("accuracy") is not None:
        points.append(
            {
                "name": "tf_compact int8",
                "macs": report["student"].get("macs"),
                "accuracy": int8["accuracy"],
            }
        )
    points += [dict(b) for b in baselines]
    history = report.get("history", {}).get("sparsify", {})
    jobs = [
        ("tradeoff.png", lambda p: tradeoff(p, points)),
        (
            "widths.png",
            lambda p: widths(
                p, teacher.get("widths", {}), final.get("widths", {})
            ),
        ),
        ("strength.png", lambda p: strength(p, history)),
        (
            "schedule.png",
            lambda p: schedule(p, records.get("slim", {}).get("schedule")),
        ),
    ]
    written = []
    for name, job in jobs:
        if job(os.path.join(output_dir, name)):
            written.append(name)
    return written
