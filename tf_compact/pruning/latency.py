"""Latency tables: the predicted latency of a model at any group widths.

Users pay latency, not MACs: on a small CNN a width cut saves a smaller
share of the time than of the MACs (per-invoke overhead, memory-bound
layers, kernels that run best at some widths). `prune(target_latency=...)`
therefore works from times measured on the real interpreter.

**The table.** For every prunable channel group, the layers the group
touches (its producers, the norms and activations on its channels and its
consumers, wired as in the model) are built into a small *probe* model,
batch 1, with the group cut to a few widths (`POINTS` of them, from the
narrowest allowed to the full width) and every other group at full width.
Each probe is converted to float32 TFLite and its `invoke()` timed on
LiteRT (`ai_edge_litert`, XNNPACK) when installed, else on TensorFlow's
interpreter, with `num_threads` threads. A group's *saving* at width `w`
is its probe's time at full width minus its time at `w` (interpolated
between measured widths, non-increasing as the width grows). The model's
latency at widths `{g: w_g}` is predicted **additively**: the measured
latency of the whole model minus the sum of the groups' savings.

The additive model ignores that a layer between two cut groups shrinks on
both sides (it counts that layer's saving twice), so it predicts less than
the pruned model measures. `LatencyPredictor`, which `prune` uses, scales
the savings by how much of their MACs the cuts save together rather than
alone; `prune` then re-measures the slim model and tightens the target if
it still misses by more than `TOLERANCE`.

**The cache.** Each timing is stored as a small JSON file under
`$TF_COMPACT_CACHE/latency/` (default `~/.cache/tf_compact/latency/`),
keyed by the probe's layer configs and input shapes (so its width), the
CPU model, the thread count and the runtime with its version. A second
table of the same model is built without timing anything.

**Tables measured elsewhere.** `LatencyTable.from_benchmark_model` reads
times taken on a phone (one `benchmark_model` run per probe, see
`export_probes`), in this format:

- CSV with a header holding the columns `name`, `width` and `avg_ms`
  (`avg ms` is accepted too; other columns are ignored). One row per
  probe: `name` is a group or a producer layer of the group, `width` its
  width in the probe, `avg_ms` the probe's average `invoke()` time (the
  sum of its ops' average times in a per-op profile). One row named
  `model` (width left empty) gives the whole model's time.
- JSON `{"model_ms": 12.5, "groups": {"block1_conv1": {"8": 0.4,
  "32": 0.9}, ...}}` with the same meaning.

Every group listed needs its full width among its rows. Groups left out
save nothing when cut (they are still cut by MACs and parameter targets).

Example:

```python
table = build_latency_table(model, num_threads=1)
print(table.model_ms, table.predict({"conv1": 16}))
small = tfc.prune(model, target_latency=0.5 * table.model_ms)
print(measure_latency(small))
```
"""

import csv
import hashlib
import json
import os

import keras
import numpy as np

from tf_compact.graph.registry import get_handler
from tf_compact.internal import interpreter
from tf_compact.internal.validation import invalid
from tf_compact.internal.validation import validate_int
from tf_compact.pruning.selection import keep_count
from tf_compact.surgery.common import resolve_graph
from tf_compact.surgery.cost import cost_from_keep

#: Widths timed per group, from the narrowest allowed to the full width.
POINTS = 8
#: A pruned model may measure at most this much above its target.
TOLERANCE = 0.10
#: Timed invokes per probe, and per measurement of a whole model.
RUNS = 50
#: Name of the whole model's row in a benchmark_model table.
MODEL_ROW = "model"


class LatencyTable:
    """Per-group latency savings and the additive latency predictor.

    Args:
        model_ms: Measured latency of the whole unpruned model (ms).
        groups: `{group name: {width: ms}}`: the time of the layers the
            group touches, with the group at `width` (its full width
            included). Values are made non-decreasing in width.
        meta: Where the times come from (runtime, threads, CPU, source).
            `meta["source"] == "measured"` marks a table timed on this
            machine, which `prune` may re-measure against. Defaults to
            `None`.

    Example:

    ```python
    table = LatencyTable(2.0, {"conv1": {8: 0.3, 16: 0.5, 32: 0.9}})
    table.predict({"conv1": 16})  # 2.0 - (0.9 - 0.5) = 1.6
    ```
    """

    def __init__(self, model_ms, groups, meta=None):
        self.model_ms = _positive_ms("model_ms", model_ms)
        self.meta = dict(meta or {})
        self.groups = {}
        for name, row in groups.items():
            widths = sorted(int(w) for w in row)
            if not widths or widths[0] < 1:
                raise invalid(
                    "groups",
                    f"widths >= 1 with a time each for group {name!r}",
                    row,
                )
            times = [
                _ms(f"groups[{name!r}]", row[_key(row, w)]) for w in widths
            ]
            times = np.maximum.accumulate(np.asarray(times, dtype=float))
            self.groups[str(name)] = (np.asarray(widths), times)

    @property
    def measured_here(self):
        """Whether the times were measured on this machine."""
        return self.meta.get("source") == "measured"

    def saving(self, name, width):
        """Milliseconds saved by cutting group `name` to `width`."""
        if name not in self.groups:
            return 0.0
        widths, times = self.groups[name]
        return float(times[-1] - np.interp(width, widths, times))

    def predict(self, widths):
        """Predicted latency (ms) with groups at `widths` `{name: width}`.

        Groups left out are at full width. The result never goes below
        zero.
        """
        saved = sum(self.saving(n, w) for n, w in widths.items())
        return max(self.model_ms - saved, 0.0)

    def predict_masks(self, masks):
        """Predicted latency (ms) of the model slimmed with `masks`."""
        return self.predict(
            {n: int(np.count_nonzero(m)) for n, m in masks.items()}
        )

    def for_graph(self, graph):
        """This table keyed by the group names of `graph`.

        Rows may be named by a group or by a producer layer of it.

        Raises:
            ValueError: For a row naming no group or producer of `graph`,
                or a group whose full width has no time.
        """
        by_layer = {}
        for group in graph.groups:
            by_layer[group.name] = group
            for layer in group.layers("producer"):
                by_layer.setdefault(layer, group)
        groups = {}
        for name, (widths, times) in self.groups.items():
            group = by_layer.get(name)
            if group is None:
                raise ValueError(
                    "Invalid value for argument `latency_table`: no channel "
                    f"group or producer layer named {name!r} in model "
                    f"'{graph.model.name}'. Prunable groups: "
                    f"{[g.name for g in graph.groups]}."
                )
            if group.size not in widths.tolist():
                raise ValueError(
                    "Invalid value for argument `latency_table`: the row of "
                    f"{name!r} has no time at the full width {group.size} "
                    f"of group {group.name!r}. Received widths: "
                    f"{widths.tolist()}"
                )
            keep = widths <= group.size
            groups[group.name] = dict(
                zip(widths[keep].tolist(), times[keep].tolist())
            )
        return LatencyTable(self.model_ms, groups, self.meta)

    def get_config(self):
        """The table as a JSON-compatible dict (`from_config` reads it)."""
        return {
            "model_ms": self.model_ms,
            "groups": {
                n: {str(w): float(t) for w, t in zip(ws.tolist(), ts)}
                for n, (ws, ts) in self.groups.items()
            },
            "meta": self.meta,
        }

    @classmethod
    def from_config(cls, config):
        """Creates a table from `get_config()` output."""
        return cls(config["model_ms"], config["groups"], config.get("meta"))

    @classmethod
    def from_benchmark_model(cls, path, **meta):
        """Reads times taken with `benchmark_model` (CSV or JSON).

        The format is described in this module's documentation: CSV rows
        `name,width,avg_ms` (one named `model` for the whole model), or
        JSON `{"model_ms": ..., "groups": {name: {width: ms}}}`.

        Args:
            path: A `.csv` or `.json` file.
            **meta: Free-form notes kept in `meta` (e.g. `device="Pixel"`).

        Returns:
            A `LatencyTable` (`meta["source"]` is `"benchmark_model"`).

        Raises:
            ValueError: For a file that does not follow the format; the
                message names the row or key.

        Example:

        ```python
        table = LatencyTable.from_benchmark_model("pixel7.csv")
        small = tfc.prune(model, target_latency=4.0, latency_table=table)
        ```
        """
        path = os.fspath(path)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if path.lower().endswith(".json") or text.lstrip().startswith("{"):
            model_ms, groups = _read_json(path, text)
        else:
            model_ms, groups = _read_csv(path, text)
        meta = {**meta, "source": "benchmark_model", "path": path}
        return cls(model_ms, groups, meta)

    def __repr__(self):
        return (
            f"LatencyTable(model_ms={self.model_ms:.3f}, "
            f"groups={len(self.groups)})"
        )


class LatencyPredictor:
    """A table's additive prediction, corrected for shared layers.

    A layer between two cut groups shrinks on both sides, and the additive
    model counts what it saves twice. Here the savings of the cut groups
    are scaled by how much of the MACs they save alone is saved when they
    are cut together (at most 1): `model_ms - rho * sum(savings)`, with
    `rho = MACs saved jointly / sum of MACs saved alone`.

    Args:
        table: A `LatencyTable` keyed by the groups of `graph`.
        graph: The `ChannelGraph` of the model.

    Example:

    ```python
    predict = LatencyPredictor(table.for_graph(graph), graph)
    ms = predict(masks)
    ```
    """

    def __init__(self, table, graph):
        self.table = table
        self.graph = graph
        self._full = cost_from_keep(graph, graph.keep_elements({}))[0]
        self._alone = {}

    def additive(self, masks):
        """The table's plain additive prediction for `masks`."""
        return self.table.predict_masks(masks)

    def __call__(self, masks):
        """Predicted latency (ms) of the model slimmed with `masks`."""
        masks = {n: m for n, m in masks.items() if n in self.table.groups}
        saved = sum(
            self.table.saving(n, int(np.count_nonzero(m)))
            for n, m in masks.items()
        )
        alone = sum(self._saved_alone(n, m) for n, m in masks.items())
        if saved <= 0 or alone <= 0:
            return self.table.predict_masks(masks)
        joint = self._full - cost_from_keep(
            self.graph, self.graph.keep_elements(masks)
        )[0]
        rho = min(max(joint / alone, 0.0), 1.0)
        return max(self.table.model_ms - rho * saved, 0.0)

    def _saved_alone(self, name, mask):
        key = (name, int(np.count_nonzero(mask)))
        if key not in self._alone:
            keep = self.graph.keep_elements({name: mask})
            self._alone[key] = self._full - cost_from_keep(self.graph, keep)[0]
        return self._alone[key]


def build_latency_table(
    model,
    graph=None,
    num_threads=1,
    points=POINTS,
    min_channels=1,
    round_to=None,
    groups=None,
    runs=RUNS,
    cache_dir=None,
):
    """Times the probes of every group and the whole model (cached).

    Args:
        model: A Sequential or Functional `keras.Model` (not modified).
        graph: Its `ChannelGraph`. Defaults to `None` (built here).
        num_threads: Interpreter threads. Defaults to `1`.
        points: Widths timed per group, narrowest and full included.
            Defaults to `POINTS`.
        min_channels: The narrowest width timed is at least this.
            Defaults to `1`.
        round_to: Widths timed are multiples of this (or the full
            width). Defaults to `None`.
        groups: Names of the groups to time. Defaults to `None` (all).
        runs: Timed invokes per probe. Defaults to `RUNS`.
        cache_dir: Folder of cached timings. Defaults to `None`:
            `$TF_COMPACT_CACHE/latency`, else
            `~/.cache/tf_compact/latency`.

    Returns:
        A `LatencyTable` (`meta["source"]` is `"measured"`).

    Example:

    ```python
    table = build_latency_table(model, num_threads=1, round_to=8)
    ```
    """
    num_threads = validate_int("num_threads", num_threads, minimum=1)
    points = validate_int("points", points, minimum=2)
    graph = resolve_graph(model, graph)
    meta = host_meta(num_threads)
    folder = cache_dir or default_cache_dir()
    model_ms = _cached(folder, _batch_one(model), meta, runs)
    rows = {}
    names = [g.name for g in graph.groups] if groups is None else groups
    for name in names:
        group = graph.group(name)
        rows[name] = {
            width: _cached(folder, probe_model(graph, name, width), meta, runs)
            for width in probe_widths(
                group.size, points, min_channels, round_to
            )
        }
    return LatencyTable(model_ms, rows, {**meta, "source": "measured"})


def measure_latency(model, num_threads=1, runs=RUNS, warmup=5, repeats=3):
    """Measured latency of `model` on the TFLite interpreter (ms).

    The model is converted to float32 TFLite with batch 1 and `invoke()`
    is timed on LiteRT (XNNPACK) when installed, else on TensorFlow's
    interpreter. Nothing is cached.

    Args:
        model: A Keras model with one batch-free input shape per input.
        num_threads: Interpreter threads. Defaults to `1`.
        runs: Timed invokes per repeat. Defaults to `RUNS`.
        warmup: Untimed invokes first. Defaults to `5`.
        repeats: Repeats; the smallest median is returned. Defaults to
            `3`.

    Returns:
        Milliseconds per invoke, a float.

    Example:

    ```python
    small = tfc.prune(model, target_latency=1.5)
    assert measure_latency(small) <= 1.5 * 1.1
    ```
    """
    num_threads = validate_int("num_threads", num_threads, minimum=1)
    runs = validate_int("runs", runs, minimum=1)
    return _measure_keras(
        _batch_one(model), num_threads, runs, warmup=warmup, repeats=repeats
    )


def probe_widths(size, points=POINTS, min_channels=1, round_to=None):
    """The widths timed for a group of `size` channels (sorted)."""
    widths = {
        keep_count(size, round(size * j / (points - 1)), min_channels, round_to)
        for j in range(points)
    }
    return sorted(widths | {size})


def probe_model(graph, name, width):
    """The layers group `name` touches, the group cut to `width`, batch 1.

    Every other channel space keeps its full width. Tensors entering the
    touched layers from elsewhere become inputs `probe_in0`, ...; outputs
    no touched layer reads become outputs. Weights are freshly
    initialized (values do not change float32 timings).
    """
    group = graph.group(name)
    index = graph.groups.index(group)
    keep = graph.keep_elements(_spread_mask(graph, name, width))
    nodes = [
        node
        for node in graph.flat.nodes
        if any(
            (graph.element_group[graph.spaces[k]] == index).any()
            for k in list(node.inputs) + list(node.outputs)
        )
    ]
    consumed = {k for node in nodes for k in node.inputs}
    built, inputs = {}, []
    for node in nodes:
        lookup = {}
        for t in node.node.input_tensors:
            key = graph.flat.keys[id(t)]
            if key not in built:
                count = int(np.count_nonzero(keep[graph.spaces[key]]))
                shape = tuple(1 if d is None else int(d) for d in t.shape)
                x = keras.Input(
                    batch_shape=(1,) + shape[1:-1] + (count,),
                    dtype=t.dtype,
                    name=f"probe_in{len(inputs)}",
                )
                built[key] = x
                inputs.append(x)
            lookup[id(t)] = built[key]
        in_keep = [keep[graph.spaces[k]] for k in node.inputs]
        out_keep = [keep[graph.spaces[k]] for k in node.outputs]
        layer = _new_layer(node, in_keep, out_keep)
        args, kwargs = node.node.arguments.fill_in(lookup)
        outs = keras.tree.flatten(layer(*args, **kwargs))
        for key, out in zip(node.outputs, outs):
            built[key] = out
    outputs = [
        built[k] for node in nodes for k in node.outputs if k not in consumed
    ]
    return keras.Model(inputs, outputs, name="probe")


def export_probes(model, directory, points=POINTS, round_to=None, graph=None):
    """Writes every probe as `.tflite` for timing on another device.

    Files are named `<group>@<width>.tflite`, plus `model.tflite` for the
    whole model; time each with `benchmark_model` and write the averages
    in the format of `LatencyTable.from_benchmark_model`.

    Args:
        model: A Sequential or Functional `keras.Model`.
        directory: Folder to write to (created).
        points: Widths per group. Defaults to `POINTS`.
        round_to: Widths are multiples of this. Defaults to `None`.
        graph: Its `ChannelGraph`. Defaults to `None`.

    Returns:
        The list of paths written.

    Example:

    ```python
    export_probes(model, "probes/", round_to=8)
    ```
    """
    graph = resolve_graph(model, graph)
    os.makedirs(directory, exist_ok=True)
    written = []

    def write(keras_model, stem):
        path = os.path.join(directory, stem + ".tflite")
        with open(path, "wb") as f:
            f.write(interpreter.to_tflite(keras_model))
        written.append(path)

    write(_batch_one(model), MODEL_ROW)
    for group in graph.groups:
        for width in probe_widths(group.size, points, 1, round_to):
            probe = probe_model(graph, group.name, width)
            write(probe, f"{group.name}@{width}")
    return written


def default_cache_dir():
    """`$TF_COMPACT_CACHE/latency`, else `~/.cache/tf_compact/latency`."""
    root = os.environ.get("TF_COMPACT_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "tf_compact"
    )
    return os.path.join(root, "latency")


def host_meta(num_threads):
    """What a timing on this machine depends on, besides the layers."""
    runtime = interpreter.runtime_name()
    return {
        "cpu": interpreter.cpu_name(),
        "num_threads": int(num_threads),
        "runtime": runtime,
        "runtime_version": interpreter.runtime_version(runtime),
    }


def _cached(folder, keras_model, meta, runs):
    config = json.dumps(
        {"model": keras_model.get_config(), "meta": meta},
        sort_keys=True,
        default=str,
    )
    key = hashlib.sha256(config.encode("utf-8")).hexdigest()[:32]
    path = os.path.join(folder, key + ".json")
    try:
        with open(path, encoding="utf-8") as f:
            return float(json.load(f)["ms"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    ms = _measure_keras(keras_model, meta["num_threads"], runs)
    try:
        os.makedirs(folder, exist_ok=True)
        partial = f"{path}.{os.getpid()}.tmp"
        with open(partial, "w", encoding="utf-8") as f:
            json.dump({"ms": ms, "meta": meta}, f)
        os.replace(partial, path)
    except OSError:
        pass  # An unwritable cache only costs time.
    return ms


def _measure_keras(keras_model, num_threads, runs, warmup=5, repeats=3):
    """Converts `keras_model` to float32 TFLite and times `invoke()`."""
    content = interpreter.to_tflite(keras_model)
    runner, _ = interpreter.make_interpreter(content, num_threads)
    return interpreter.time_invoke(runner, runs, warmup, repeats)


def _batch_one(model):
    """`model`, checked; a free batch size converts to batch 1."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Invalid value for argument `model`. Expected a keras.Model. "
            f"Received: model={model!r}"
        )
    return model


def _spread_mask(graph, name, width):
    """A mask of `width` channels spread over the group's producers."""
    size = graph.group(name).size
    if width >= size:
        return {}
    mask = np.zeros(size, dtype=bool)
    mask[np.round(np.linspace(0, size - 1, max(int(width), 1))).astype(int)] = (
        True
    )
    for _, channels in graph.segments.get(name, ()):
        if not mask[channels].any():
            mask[channels[0]] = True
    return {name: mask}


def _new_layer(node, in_keep, out_keep):
    old = node.layer
    if not isinstance(old, keras.layers.Layer):
        try:
            return type(old).from_config(old.get_config())
        except Exception:  # noqa: BLE001 - an op without config is reused
            return old
    config = old.get_config()
    if not all(k.all() for k in in_keep + out_keep):
        config = get_handler(old).slim_config(
            old, dict(config), in_keep, out_keep
        )
    config["name"] = node.name
    config.pop("build_config", None)
    return type(old).from_config(config)


def _positive_ms(name, value):
    value = _ms(name, value)
    if value <= 0:
        raise invalid(name, "a time in milliseconds > 0", value)
    return value


def _ms(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise invalid(name, "a time in milliseconds", value) from None
    if not np.isfinite(value) or value < 0:
        raise invalid(name, "a finite time in milliseconds >= 0", value)
    return value


def _key(row, width):
    for key in (width, str(width)):
        if key in row:
            return key
    for key in row:
        if int(key) == width:
            return key
    raise KeyError(width)


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


def _read_csv(path, text):
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
            if name == MODEL_ROW:
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
            f"{MODEL_ROW!r} with the whole model's time."
        )
    return model_ms, groups
