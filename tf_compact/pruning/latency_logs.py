"""Reading latency times taken on another device with `benchmark_model`.

`tf_compact.pruning.latency.export_probes` writes one `.tflite` file per
probe (`<group>@<width>.tflite`, and `model.tflite` for the whole model).
Timed on a phone with LiteRT's `benchmark_model`, each run's output saved
beside its probe as `<probe>.txt` (or `.log`; `<probe>.tflite.txt` works
too), the folder is a latency table: the average inference time of each
log is the probe's time.

Example:

```shell
adb push probes /data/local/tmp/probes
adb shell 'cd /data/local/tmp/probes && for f in *.tflite; do
  ../benchmark_model --graph=$f --num_threads=1 > ${f%.tflite}.txt 2>&1;
done'
adb pull /data/local/tmp/probes phone_probes
```

```python
table = tfc.pruning.LatencyTable.from_benchmark_model("phone_probes")
```
"""

import csv
import json
import os

from tf_compact.internal.benchmark_tool import BenchmarkToolError
from tf_compact.internal.benchmark_tool import parse_benchmark_model

#: Suffixes of the saved tool outputs.
LOG_SUFFIXES = (".txt", ".log")


def read_times(path, model_row):
    """`(model_ms, {group: {width: ms}})` of a folder of probe logs or a
    CSV / JSON summary (formats: `tf_compact.pruning.latency_table`).

    Raises:
        ValueError: For a file or folder that does not follow the format;
            the message names the file, row or key.
    """
    if os.path.isdir(path):
        return read_benchmark_logs(path, model_row)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.lower().endswith(".json") or text.lstrip().startswith("{"):
        return _read_json(path, text)
    return _read_csv(path, text, model_row)


def read_benchmark_logs(folder, model_row):
    """`(model_ms, {group: {width: ms}})` of a folder of probe logs.

    Args:
        folder: The folder of `<probe>.txt` / `.log` files.
        model_row: The stem of the whole model's log (`"model"`).

    Returns:
        The whole model's average time (ms) and every group's times.

    Raises:
        ValueError: For a folder without the whole model's log, a log
            whose name is not `<group>@<width>` or the model's, or one that
            holds no `benchmark_model` timings (the file is named).
    """
    model_ms, groups = None, {}
    names = sorted(
        n for n in os.listdir(folder) if n.lower().endswith(LOG_SUFFIXES)
    )
    for name in names:
        stem = os.path.splitext(name)[0]
        stem = stem[: -len(".tflite")] if stem.endswith(".tflite") else stem
        path = os.path.join(folder, name)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        try:
            ms = parse_benchmark_model(text)["mean_ms"]
        except BenchmarkToolError as error:
            raise ValueError(
                f"Invalid value for argument `path`: {path!r} holds no "
                "benchmark_model timings (expected the tool's output, with "
                f"its 'Inference timings in us' line). {error}"
            ) from None
        if stem == model_row:
            model_ms = ms
            continue
        group, _, width = stem.rpartition("@")
        if not group or not width.isdigit():
            raise ValueError(
                f"Invalid value for argument `path`: {path!r} is not named "
                f"after a probe: expected '<group>@<width>' or "
                f"{model_row!r} (the names export_probes gives)."
            )
        groups.setdefault(group, {})[int(width)] = ms
    if model_ms is None:
        raise ValueError(
            f"Invalid value for argument `path`: no log of the whole model "
            f"({model_row}.txt) in {folder!r}; found {names[:5]}."
        )
    return model_ms, groups


def _read_json(path, text):
    try:
        data = json.loads(text)
        return data["model_ms"], {
            str(n): {int(w): t for w, t in row.items()}
            for n, row in data["groups"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(
            f"Invalid value for argument `path`: {path!r} is not a latency "
            'table. Expected JSON {"model_ms": float, "groups": {name: '
            "{width: ms}}}. "
            f"Error: {type(e).__name__}: {e}"
        ) from None


def _read_csv(path, text, model_row):
    rows = list(csv.reader(line for line in text.splitlines() if line.strip()))
    if not rows:
        raise ValueError(
            f"Invalid value for argument `path`: {path!r} is empty. "
            "Expected CSV with columns name,width,avg_ms."
        )
    header = [h.strip().lower().replace(" ", "_") for h in rows[0]]
    missing = [c for c in ("name", "width", "avg_ms") if c not in header]
    if missing:
        raise ValueError(
            f"Invalid value for argument `path`: {path!r} has no column "
            f"{missing[0]!r}. Expected CSV with columns name,width,avg_ms. "
            f"Received header: {rows[0]}"
        )
    at = {c: header.index(c) for c in ("name", "width", "avg_ms")}
    model_ms, groups = None, {}
    for number, row in enumerate(rows[1:], start=2):
        try:
            name = row[at["name"]].strip()
            ms = float(row[at["avg_ms"]])
            if name == model_row:
                model_ms = ms
                continue
            width = int(row[at["width"]])
        except (IndexError, ValueError):
            raise ValueError(
                f"Invalid value for argument `path`: row {number} of "
                f"{path!r} is not name,width,avg_ms with an int width and a "
                f"time in ms. Received: {row}"
            ) from None
        groups.setdefault(name, {})[width] = ms
    if model_ms is None:
        raise ValueError(
            f"Invalid value for argument `path`: {path!r} has no row named "
            f"{model_row!r} with the whole model's time."
        )
    return model_ms, groups
