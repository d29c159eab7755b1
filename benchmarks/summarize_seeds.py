"""Accuracy of each bench_e2e arm over replicate runs (seeds), paired.

`bench_e2e.py` runs are deterministic for a given `--seed` and the cached
teacher is shared, so runs with different seeds are replicates of every
arm. This script reads the `<name>.json` / `<name>.md` pairs those runs
wrote, groups the arms by name, and prints per arm the accuracy of every
seed, its mean and standard deviation, and the paired difference
reference − arm over the seeds both ran (mean ± standard error); the
reference is tf_compact unless `--reference` names another row.

```
python benchmarks/summarize_seeds.py \
    --runs=e2e/vgg/flatten_head/seed0,e2e/vgg/flatten_head/seed1 \
    --name=e2e/vgg/flatten_head/summary
```

A run that repeats an (arm, seed) pair already read must agree with it
(the runs are deterministic); a disagreement is reported, and the first
value is kept. Runs made with other settings (say an earlier default of
`--student_loss_weight`) keep their own rows through `--relabel`:
`--relabel=e2e/vgg/x/seed0:tf_compact=tf_compact α=0.5` shows run
`e2e/vgg/x/seed0`'s tf_compact row as the arm `tf_compact α=0.5`, and
`--reference="tf_compact α=0.5"` would pair every other arm with it.
"""

import json
import math
import os
import re
import sys

import common
from absl import app
from absl import flags

OURS = "tf_compact"
FLAGS = flags.FLAGS


def define_flags():
    """Defines the command-line flags (only when run as a script, so
    importing this module never clashes with other absl flags)."""
    flags.DEFINE_list(
        "runs", None, "Result names (files <name>.json and <name>.md)."
    )
    flags.DEFINE_string(
        "results_dir", "benchmarks/results", "Where the results are."
    )
    flags.DEFINE_string(
        "name", None, "Write the table to <results_dir>/<name>.md as well."
    )
    flags.DEFINE_list(
        "relabel",
        [],
        "Entries `run:arm=label`: that run's row of `arm` (tf_compact for "
        "any tf_compact method) is reported as the arm `label`.",
    )
    flags.DEFINE_string(
        "reference",
        OURS,
        "The arm (after --relabel) that every other arm is paired with.",
    )


def parse_relabel(entries):
    """`{(run, arm): label}` from `run:arm=label` entries.

    Args:
        entries: list of strings `run:arm=label`.

    Returns:
        The mapping.

    Raises:
        ValueError: on an entry without both `:` and `=`, or with an empty
            part.
    """
    mapping = {}
    for entry in entries:
        run, _, rest = entry.partition(":")
        arm, _, label = rest.partition("=")
        if not (run and arm and label):
            raise ValueError(
                f"--relabel entry {entry!r} is not of the form run:arm=label."
            )
        mapping[(run.strip(), arm.strip())] = label.strip()
    return mapping


def seed_of(markdown):
    """The `--seed` of a bench_e2e result's command line (default 0).

    Args:
        markdown: the text of a bench_e2e `<name>.md` file.

    Returns:
        The seed as an int.

    Raises:
        ValueError: if the text has no `Command:` line.
    """
    match = re.search(r"^Command: `([^`]*)`", markdown, re.MULTILINE)
    if not match:
        raise ValueError("No `Command:` line in the result file.")
    seed = re.search(r"--seed=(\d+)", match.group(1))
    return int(seed.group(1)) if seed else 0


def collect(runs, relabel=None):
    """`{arm: {seed: accuracy}}` over the runs, and the warnings met.

    Args:
        runs: list of `(seed, result dict, run name)`, the dict in the
            bench_e2e JSON layout (`{"teacher": row, "arms": [row, ...]}`).
        relabel: optional `{(run name, arm): label}` (see `parse_relabel`).

    Returns:
        `(table, warnings)`.
    """
    table, warnings = {}, []
    relabel = relabel or {}
    for seed, result, run in runs:
        for row in [result["teacher"]] + result["arms"]:
            arm = _arm_key(row["arm"])
            arm = relabel.get((run, arm), arm)
            seen = table.setdefault(arm, {})
            if seed in seen and abs(seen[seed] - row["accuracy"]) > 1e-9:
                warnings.append(
                    f"{arm}, seed {seed}: {row['accuracy']:.4f} differs "
                    f"from the earlier {seen[seed]:.4f}; kept the earlier."
                )
                continue
            seen.setdefault(seed, row["accuracy"])
    return table, warnings


def _arm_key(name):
    return OURS if name.startswith(OURS) else name


def mean_sd(values):
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def paired(table, arm, reference=OURS):
    """reference − arm over the common seeds: `(mean, se, n)` in pp."""
    ours, theirs = table.get(reference, {}), table[arm]
    seeds = sorted(set(ours) & set(theirs))
    if not seeds:
        return None
    diffs = [100 * (ours[s] - theirs[s]) for s in seeds]
    mean, sd = mean_sd(diffs)
    return mean, sd / math.sqrt(len(diffs)), len(diffs)


def markdown(table, warnings, reference=OURS):
    """The seed table as markdown text, paired against `reference`."""
    if reference not in table:
        raise ValueError(
            f"The reference arm {reference!r} is not among the arms: "
            f"{sorted(table)}"
        )
    seeds = sorted({s for per in table.values() for s in per})
    head = " | ".join(f"seed {s}" for s in seeds)
    lines = [
        f"| arm | {head} | mean ± sd | {reference} − arm (paired, ± se) |",
        "|---|" + "---:|" * (len(seeds) + 2),
    ]
    for arm, per in table.items():
        cells = " | ".join(
            f"{100 * per[s]:.2f}%" if s in per else "–" for s in seeds
        )
        mean, sd = mean_sd(per.values())
        diff = "–"
        if arm != reference:
            found = paired(table, arm, reference)
            if found:
                d, se, n = found
                diff = f"{d:+.2f} ± {se:.2f} pp (n={n})"
        lines.append(
            f"| {arm} | {cells} | {100 * mean:.2f} ± {100 * sd:.2f}% | {diff} |"
        )
    lines += [f"\nWarning: {w}" for w in warnings]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    if not FLAGS.runs:
        raise app.UsageError("--runs is required: bench_e2e result names.")
    runs = []
    for name in FLAGS.runs:
        base = os.path.join(FLAGS.results_dir, name)
        with open(base + ".md") as f:
            seed = seed_of(f.read())
        with open(base + ".json") as f:
            runs.append((seed, json.load(f), name))
    relabel = parse_relabel(FLAGS.relabel)
    unknown = sorted(r for r, _ in relabel if r not in FLAGS.runs)
    if unknown:
        raise app.UsageError(f"--relabel names runs not in --runs: {unknown}")
    table, warnings = collect(runs, relabel)
    command = " ".join(
        ["python benchmarks/summarize_seeds.py"]
        + [a for a in sys.argv[1:] if a.startswith("--")]
    )
    try:
        body = markdown(table, warnings, FLAGS.reference)
    except ValueError as e:
        raise app.UsageError(str(e)) from e
    text = f"Command: `{command}`\n\n" + body
    print(text)
    if FLAGS.name:
        common.write_text(
            common.result_path(FLAGS.results_dir, FLAGS.name, ".md"),
            f"# bench_e2e arms over seeds\n\n{text}",
        )


if __name__ == "__main__":
    define_flags()
    app.run(main)
