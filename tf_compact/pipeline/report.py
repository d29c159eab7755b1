"""The report of a `compress` run: a JSON dict, markdown and a text table."""

from tf_compact.lite.edgetpu import EdgeTpuReport
from tf_compact.lite.gpu_delegate import GpuReport
from tf_compact.pipeline import plots
from tf_compact.pipeline.model_costs import macs_notes
from tf_compact.version import __version__

TFLITE_LABELS = {
    "model_float32.tflite": "float32",
    "model_float16.tflite": "float16",
    "model_dynamic.tflite": "dynamic",
    "model_int8.tflite": "int8",
    "model_edgetpu.tflite": "edgetpu",
    "teacher_float32.tflite": "teacher_float32",
}


def build_report(records, settings, history=None):
    """Assembles `report.json`'s content from the stage records.

    Args:
        records: `{stage name: record}` of the finished stages, in the
            order they ran (the order `stages` lists them in).
        settings: the run's settings dict.
        history: `{stage: {metric: [per-epoch values]}}` of the training
            stages. Defaults to `None`.

    Returns:
        A JSON-able dict with at least `teacher`, `student`, `reduction`,
        `tflite`, `runtime`, `settings` and `stages`. `teacher` is the
        model distilled from; when that is a BN-recalibrated copy
        (`recalibrate_teacher`), `given_accuracy` is the accuracy of the
        model as given. `reduction` holds
        the teacher/student ratios of `macs` and `params` and
        `accuracy_change_pp`, the student's accuracy minus the teacher's
        in percentage points, rounded to 2 decimals (negative when the
        student is less accurate). With a latency budget,
        `latency_budget` holds `target_ms`, `measured_ms` (the slim
        student's float32 TFLite latency measured on this machine when
        it was pruned, the best of 3 medians), `num_threads` and, when
        the float32 file was benchmarked, `file_ms` (that file's median
        latency, the table's figure; the two differ with the machine's
        load). With `Export(edgetpu=True)`, `edgetpu` holds the
        Edge TPU file's name (`file`), `compatible`, `summary` (one line)
        and the `tfc.lite.edgetpu_report`'s `get_config()` fields.
        `gpu` holds, per float student file, the GPU delegate's verdict
        (`compatible`), the ops that would run on the CPU (`fallback`) and
        a one-line `summary` (`tfc.lite.gpu_report`). For a teacher
        whose input takes any size, `teacher` and `student` hold its
        `free_input_shape` and either `macs_at`, the input size of the
        data the MACs were counted at, or `macs: None` (unknown: shown as
        "n/a", with no MACs ratio); `macs_notes` says so in words
        (`tf_compact.pipeline.model_costs`), as it says which layers the
        MACs leave out (`macs_left_out`).
    """
    teacher = _public(records.get("teacher"))
    final = records.get("finetune") or records.get("slim") or {}
    student = _public(final)
    report = {
        "tf_compact_version": __version__,
        "teacher": teacher,
        "student": student,
        "reduction": _reduction(teacher, student),
        "macs_notes": macs_notes((teacher, student)),
        "tflite": {},
        "runtime": None,
        "settings": settings,
        "stages": list(records),
        "history": history or {},
        "teacher_check": records.get("teacher_check"),
        "bn_recalibration": {
            stage: rec["bn_recalibration"]
            for stage, rec in records.items()
            if isinstance(rec, dict) and "bn_recalibration" in rec
        },
    }
    bench = records.get("benchmark", {})
    for filename, info in records.get("tflite", {}).items():
        entry = dict(info)
        if "edgetpu_report" in entry:
            report["edgetpu"] = _edgetpu(filename, entry.pop("edgetpu_report"))
        if "gpu_report" in entry:
            checked = GpuReport.from_config(entry.pop("gpu_report"))
            report.setdefault("gpu", {})[filename] = {
                "compatible": checked.compatible,
                "fallback": checked.fallback,
                "summary": checked.summary(),
            }
        entry.update(_public_bench(bench.get(filename, {})))
        report["tflite"][TFLITE_LABELS.get(filename, filename)] = entry
    runtimes = {e.get("runtime") for e in report["tflite"].values()}
    runtimes.discard(None)
    if runtimes:
        report["runtime"] = ", ".join(sorted(runtimes))
    report["latency_speedup"] = _speedup(report["tflite"])
    slim = records.get("slim") or {}
    if "target_latency_ms" in slim:
        report["latency_budget"] = {
            "target_ms": slim["target_latency_ms"],
            "measured_ms": slim["latency_ms"],
            "num_threads": settings.get("num_threads"),
        }
        shipped = report["tflite"].get("float32", {}).get("median_ms")
        if shipped is not None:
            report["latency_budget"]["file_ms"] = shipped
    return report


def _edgetpu(filename, config):
    checked = EdgeTpuReport.from_config(config)
    return {
        "file": filename,
        "compatible": checked.compatible,
        "summary": checked.summary(),
        **config,
    }


def _device_lines(report):
    """One line on the Edge TPU file (verdict, ops, what was not checked),
    and one per float file on the GPU delegate."""
    lines = []
    entry = report.get("edgetpu")
    if entry:
        line = f"**Edge TPU** (`{entry['file']}`): {entry['summary']}"
        if entry.get("unchecked"):
            line += " Not checked: " + "; ".join(entry["unchecked"]) + "."
        lines += [line, ""]
    for filename, gpu in (report.get("gpu") or {}).items():
        lines += [f"**GPU delegate** (`{filename}`): {gpu['summary']}", ""]
    return lines


def _public(record):
    if not record:
        return {}
    keys = ("name", "accuracy", "given_accuracy", "macs", "params")
    keys += ("free_input_shape", "macs_at", "macs_left_out")
    return {k: record[k] for k in keys if k in record}


def _public_bench(result):
    keys = (
        "median_ms",
        "p90_ms",
        "mean_ms",
        "accuracy",
        "runtime",
        "delegate",
        "num_threads",
    )
    return {k: result[k] for k in keys if k in result}


def _reduction(teacher, student):
    out = {}
    for key in ("macs", "params"):
        if teacher.get(key) and student.get(key):
            out[key] = teacher[key] / student[key]
    if (
        teacher.get("accuracy") is not None
        and student.get("accuracy") is not None
    ):
        change = 100 * (student["accuracy"] - teacher["accuracy"])
        out["accuracy_change_pp"] = round(change, 2) + 0.0
    return out


def _speedup(tflite):
    base = tflite.get("teacher_float32", {}).get("median_ms")
    out = {}
    for label in ("float32", "int8"):
        ms = tflite.get(label, {}).get("median_ms")
        if base and ms:
            out[label] = base / ms
    return out


def _fmt(value, kind):
    if value is None:
        return "–"
    if kind == "acc":
        return f"{100 * value:.2f}%"
    if kind == "count":
        return _human(value)
    if kind == "bytes":
        return f"{value / 1024:.1f} KiB"
    if kind == "ms":
        return f"{value:.3f}"
    return str(value)


def _human(value):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return str(int(value))


def summary_rows(report):
    """Rows `(what, accuracy, MACs, params, size, latency ms)` as strings."""
    teacher, student = report["teacher"], report["student"]
    tfl = report["tflite"]
    rows = [("teacher (Keras)", teacher, {})]
    what = "teacher"
    if "given_accuracy" in teacher:
        given = dict(teacher, accuracy=teacher["given_accuracy"])
        what = "teacher, BN recalibrated copy"
        rows = [("teacher as given (Keras)", given, {})]
        rows.append((f"{what} (Keras)", teacher, {}))
    if "teacher_float32" in tfl:
        rows.append((f"{what} TFLite float32", teacher, tfl["teacher_float32"]))
    rows.append(("student (Keras)", student, {}))
    for label in ("float32", "float16", "dynamic", "int8"):
        if label in tfl:
            rows.append((f"student TFLite {label}", student, tfl[label]))
    out = []
    for what, keras_side, lite_side in rows:
        accuracy = lite_side.get("accuracy", keras_side.get("accuracy"))
        out.append(
            (
                what,
                _fmt(accuracy, "acc"),
                _macs_cell(keras_side),
                _fmt(keras_side.get("params"), "count"),
                _fmt(lite_side.get("size_bytes"), "bytes"),
                _fmt(lite_side.get("median_ms"), "ms"),
            )
        )
    return out


def _macs_cell(record):
    """The MACs of a record; "n/a" where they are unknown (`None`)."""
    if "macs" in record and record["macs"] is None:
        return "n/a"
    return _fmt(record.get("macs"), "count")


HEADER = ("", "accuracy", "MACs", "params", "TFLite size", "latency ms")


def summary_table(report):
    """The before/after table as aligned plain text."""
    rows = [HEADER] + summary_rows(report)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("-" * len(lines[0]))
    lines.append(_reduction_line(report))
    lines += [f"Note: {note}" for note in report.get("macs_notes", ())]
    return "\n".join(lines)


def _reduction_line(report):
    red = report["reduction"]
    parts = [f"{k} ÷{red[k]:.2f}" for k in ("macs", "params") if k in red]
    if _macs_cell(report["teacher"]) == "n/a" or (
        _macs_cell(report["student"]) == "n/a"
    ):
        parts.insert(0, "macs n/a")
    if "accuracy_change_pp" in red:
        parts.append(f"accuracy {red['accuracy_change_pp']:+.2f} pp")
    for label, value in report.get("latency_speedup", {}).items():
        parts.append(f"{label} latency ×{value:.2f} vs teacher")
    if report.get("runtime"):
        parts.append(f"runtime: {report['runtime']}")
    budget = report.get("latency_budget")
    if budget and budget.get("file_ms") is not None:
        parts.append(
            f"latency budget {budget['target_ms']:.4g} ms: the float32 "
            f"file measures {budget['file_ms']:.4g} ms "
            f"({budget['measured_ms']:.4g} ms when pruned, best of 3)"
        )
    elif budget:
        parts.append(
            f"latency budget {budget['target_ms']:.4g} ms, measured "
            f"{budget['measured_ms']:.4g} ms when pruned"
        )
    return "; ".join(parts)


def markdown(report, plot_files=()):
    """`report.md`: the summary table, the reductions and the plots."""
    lines = ["# tf_compact compress report", ""]
    lines += ["| " + " | ".join(HEADER) + " |"]
    lines += ["|" + "|".join(["---"] + ["---:"] * (len(HEADER) - 1)) + "|"]
    for row in summary_rows(report):
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", _reduction_line(report), ""]
    for note in report.get("macs_notes", ()):
        lines += [f"**Note:** {note}", ""]
    settings = report.get("settings", {})
    listed = ", ".join(f"`{k}={v}`" for k, v in settings.items())
    lines += _device_lines(report)
    lines += _batch_norm_lines(report)
    lines.append("Settings: " + listed)
    lines.append("")
    lines.append("Stages, in run order: " + ", ".join(report.get("stages", [])))
    for path in plot_files:
        lines += ["", f"![{path}]({path})"]
    return "\n".join(lines) + "\n"


def _batch_norm_lines(report):
    """Plain-words lines on the teacher check and BN recalibrations."""
    lines = []
    check = report.get("teacher_check") or {}
    if check.get("message"):
        lines += [f"**Teacher check:** {check['message']}", ""]
    done = report.get("bn_recalibration") or {}
    for stage, entry in done.items():
        change = ""
        if entry.get("accuracy_after") is not None:
            change = (
                f", accuracy {_fmt(entry.get('accuracy_before'), 'acc')} "
                f"→ {_fmt(entry['accuracy_after'], 'acc')}"
            )
        what = "the teacher (a copy)" if stage == "teacher_check" else stage
        lines.append(
            f"- BN statistics of {what} recalibrated: "
            f"{entry['batches']} batches, {entry['seconds']:.1f} s{change}"
        )
    return lines + [""] if done else lines


def write(store, report, records, baselines=()):
    """Writes report.json, report.md and the PNG plots to the output dir.

    Returns:
        A dict of the written paths (empty without an output directory).
    """
    if store.output_dir is None:
        return {}
    plot_files = plots.write_all(store.output_dir, report, records, baselines)
    paths = {"report.json": store.write_json("report.json", report)}
    path = store.path("report.md")
    with open(path, "w") as f:
        f.write(markdown(report, plot_files))
    paths["report.md"] = path
    paths.update({name: store.path(name) for name in plot_files})
    return paths
