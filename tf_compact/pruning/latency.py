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

**Tables measured elsewhere.** `export_probes` writes the probes as
`.tflite` files to time on a phone; `LatencyTable.from_benchmark_model`
(in `tf_compact.pruning.latency_table`) reads the times back.

Example:

```python
table = build_latency_table(model, num_threads=1)
print(table.model_ms, table.predict({"conv1": 16}))
small = tfc.prune(model, target_latency=0.5 * table.model_ms)
print(measure_latency(small))
```
"""

import hashlib
import json
import os

import keras
import numpy as np

from tf_compact.graph.registry import get_handler
from tf_compact.internal import interpreter
from tf_compact.internal.validation import validate_int
from tf_compact.pruning.latency_table import MODEL_ROW
from tf_compact.pruning.latency_table import LatencyTable
from tf_compact.pruning.selection import keep_count
from tf_compact.surgery.common import resolve_graph

#: Widths timed per group, from the narrowest allowed to the full width.
POINTS = 8
#: A pruned model may measure at most this much above its target.
TOLERANCE = 0.10
#: Timed invokes per probe, and per measurement of a whole model.
RUNS = 50


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
            (graph.element_group[space] == index).any()
            for space in _node_spaces(graph, node)
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
        dims = {n: keep[sp] for n, sp in graph.dims.get(node.name, {}).items()}
        layer = _new_layer(node, in_keep, out_keep, dims)
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


def _node_spaces(graph, node):
    """The channel spaces of a call: its tensors' and its inner sizes'."""
    keys = list(node.inputs) + list(node.outputs)
    inner = graph.dims.get(node.name, {}).values()
    return [graph.spaces[k] for k in keys] + list(inner)


def _new_layer(node, in_keep, out_keep, dims):
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
    if not all(k.all() for k in dims.values()):
        config = get_handler(old).slim_dims(old, dict(config), dims)
    config["name"] = node.name
    config.pop("build_config", None)
    return type(old).from_config(config)
