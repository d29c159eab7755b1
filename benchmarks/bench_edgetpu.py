"""Edge TPU readiness of the reference models, as the report sees it.

For each reference architecture (random weights: the rules read the
graph, not the values), converts to full int8 twice, with the default
dynamic batch and with `target="edgetpu"`, and records the static Edge
TPU report of each file: ops, ops mapped, the verdict, the findings by
rule and where the graph is cut. `edgetpu_compiler` is run when it is on
the PATH (the results say whether it was).

Usage:
    python benchmarks/bench_edgetpu.py \
        --output_dir=benchmarks/results/edgetpu
"""

import collections
import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402
import numpy as np  # noqa: E402

import tf_compact as tfc  # noqa: E402

OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", "benchmarks/results/edgetpu", "Folder for the results."
)
MODELS = flags.DEFINE_list(
    "models",
    ["small_cnn", "vgg", "resnet20", "mobilenet_v2", "conv1d_net"],
    "Reference models (tf_compact.models.get names).",
)
CALIBRATION = flags.DEFINE_integer(
    "calibration", 16, "Random calibration samples."
)


def _summary(report, seconds):
    rules = collections.Counter(f.rule for f in report.errors)
    cut = next((f for f in report.errors if f.index is not None), None)
    return {
        "ops": len(report.ops),
        "ops_on_edgetpu": sum(r["device"] == "edgetpu" for r in report.ops),
        "compatible": report.compatible,
        "static_shapes": report.static_shapes,
        "errors_by_rule": dict(sorted(rules.items())),
        "warnings": [f.text() for f in report.warnings],
        "first_error": None if cut is None else cut.text(),
        "compiler_ran": report.compiler is not None,
        "check_seconds": round(seconds, 3),
    }


def _check(model, x, target):
    tflite = tfc.lite.convert(
        model,
        "int8",
        representative_data=x,
        inference_io="uint8",
        verify=False,
        target=target,
    )
    start = time.perf_counter()
    report = tfc.lite.edgetpu_report(
        tflite, layer_names=[layer.name for layer in model.layers]
    )
    return _summary(report, time.perf_counter() - start)


def _table(results):
    lines = [
        "| model | conversion | ops on Edge TPU | compatible "
        "| errors by rule |",
        "|---|---|---|---|---|",
    ]
    for name, arms in results.items():
        for arm, row in arms.items():
            rules = ", ".join(
                f"{k} {v}" for k, v in row["errors_by_rule"].items()
            )
            lines.append(
                f"| {name} | {arm} | {row['ops_on_edgetpu']} / {row['ops']} "
                f"| {row['compatible']} | {rules or '-'} |"
            )
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    rng = np.random.default_rng(0)
    results = {}
    for name in MODELS.value:
        model = tfc.models.get(name)
        shape = (CALIBRATION.value,) + tuple(model.inputs[0].shape[1:])
        x = rng.uniform(size=shape).astype("float32")
        results[name] = {
            "dynamic batch": _check(model, x, None),
            "target='edgetpu'": _check(model, x, "edgetpu"),
        }
        print(name, results[name]["target='edgetpu'"]["compatible"])
    table = _table(results)
    print(table)
    out = OUTPUT_DIR.value
    common.write_json(
        common.result_path(out, "edgetpu_report", ".json"),
        {
            "command": common.command(
                "benchmarks/bench_edgetpu.py", ["output_dir", "models"]
            ),
            "results": results,
        },
    )
    common.write_text(common.result_path(out, "summary", ".md"), table + "\n")


if __name__ == "__main__":
    app.run(main)
