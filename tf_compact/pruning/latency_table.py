"""`LatencyTable`: per-group latency savings, and how they are predicted.

A table holds, for every prunable channel group, the time of the layers
the group touches at a few widths, and the whole model's time; cutting a
group to a width saves the difference from its full-width time. Tables are
measured on this machine by `tf_compact.pruning.latency` or read from times
taken elsewhere.

**Tables measured elsewhere.** `LatencyTable.from_benchmark_model` reads
times taken on a phone (one `benchmark_model` run per probe, see
`tf_compact.pruning.latency.export_probes`): the folder of the tool's
saved outputs (`tf_compact.pruning.latency_logs`), or a summary in this
format:

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
table = LatencyTable.from_benchmark_model("pixel7.csv")
print(table.model_ms, table.predict({"conv1": 16}))
```
"""

import os

import numpy as np

from tf_compact.internal.validation import invalid
from tf_compact.pruning.latency_logs import read_times
from tf_compact.pruning.widths import groups_by_name
from tf_compact.surgery.cost import cost_from_keep

#: Name of the whole model's row in a benchmark_model table.
MODEL_ROW = "model"
#: The least share of (unpruned time x MACs kept) a prediction keeps.
MACS_FLOOR = 0.25


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
        by_layer = groups_by_name(graph)
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
        """Reads times taken with `benchmark_model` on another device.

        `path` is the folder of the tool's saved outputs, one per probe of
        `export_probes` (see `tf_compact.pruning.latency_logs`), or a
        summary in this module's format: CSV rows `name,width,avg_ms` (one
        named `model` for the whole model), or JSON `{"model_ms": ...,
        "groups": {name: {width: ms}}}`.

        Args:
            path: A folder of `<probe>.txt` logs, or a `.csv` or `.json`
                file.
            **meta: Free-form notes kept in `meta` (e.g. `device="Pixel"`).

        Returns:
            A `LatencyTable` (`meta["source"]` is `"benchmark_model"`).

        Raises:
            ValueError: For a file that does not follow the format; the
                message names the row or key.

        Example:

        ```python
        table = LatencyTable.from_benchmark_model("pixel7_probes/")
        small = tfc.prune(model, target_latency=4.0, latency_table=table)
        ```
        """
        path = os.fspath(path)
        model_ms, groups = read_times(path, MODEL_ROW)
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
    `rho = MACs saved jointly / sum of MACs saved alone`. The savings of
    deep cuts can add up to more than the model; the prediction then
    stays at `MACS_FLOOR` times the unpruned time scaled by the share of
    MACs kept, so deep cuts still order by their cost instead of all
    reading 0 ms.

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
        joint = (
            self._full
            - cost_from_keep(self.graph, self.graph.keep_elements(masks))[0]
        )
        rho = min(max(joint / alone, 0.0), 1.0)
        kept = max(1.0 - joint / self._full, 0.0) if self._full else 1.0
        floor = MACS_FLOOR * self.table.model_ms * kept
        return max(self.table.model_ms - rho * saved, floor)

    def _saved_alone(self, name, mask):
        key = (name, int(np.count_nonzero(mask)))
        if key not in self._alone:
            keep = self.graph.keep_elements({name: mask})
            self._alone[key] = self._full - cost_from_keep(self.graph, keep)[0]
        return self._alone[key]


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
