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
alone; with a table measured here, `prune` then measures the slim model
beside the unpruned one (`measure_side_by_side`) and corrects the
prediction by what it measured until the slim model lands within
`TOLERANCE` of the target (`tf_compact.pruning.latency_search`).

**The cache.** Each timing is stored as a small JSON file under
`$TF_COMPACT_CACHE/latency/` (default `~/.cache/tf_compact/latency/`),
keyed by the probe's layer configs and input shapes (so its width), the
CPU model, the thread count and the runtime with its version. A second
table of the same model times only the whole model and a fixed reference
workload: every table times the reference, each cached probe keeps the
reference's time beside its own, and a cached time is scaled by the
reference's time now over then, so probes timed under another load (a
busy machine, another clock) stay consistent with the whole model's
fresh time.

**Tables measured elsewhere.** `tfc.pruning.export_probes` writes the
probes as `.tflite` files to time on a phone with `benchmark_model`;
`tfc.pruning.LatencyTable.from_benchmark_model` reads the folder of the
tool's logs back (`tf_compact.pruning.latency_logs`). A table from another
device cannot be checked by a measurement here: the pruned model meets
its prediction, and the prediction is only as good as the additive model.

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

from tf_compact.internal import interpreter
from tf_compact.internal.progress import progress_bar
from tf_compact.internal.validation import validate_int
from tf_compact.pruning.latency_probes import POINTS
from tf_compact.pruning.latency_probes import batch_one
from tf_compact.pruning.latency_probes import probe_model
from tf_compact.pruning.latency_probes import probe_widths
from tf_compact.pruning.latency_table import LatencyTable
from tf_compact.surgery.common import resolve_graph

#: A pruned model may measure at most this much above its target.
TOLERANCE = 0.10
#: Timed invokes per probe, and per measurement of a whole model.
RUNS = 50
#: Interpreters a model is timed on, the best kept: two interpreters of
#: one model can differ by a third in speed (where their buffers land).
INSTANCES = 3


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
    verbose=1,
):
    """Times the probes of every group (cached) and the whole model.

    The probes' timings are cached on disk; the whole model is timed on
    every call, since every prediction starts from it.

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
        verbose: `1` prints what is timed and a progress bar over the
            groups (a large model takes minutes the first time); `0`
            prints nothing. Defaults to `1`.

    Returns:
        A `LatencyTable` (`meta["source"]` is `"measured"`).

    Raises:
        ValueError: if an input of `model` takes any size
            (`keras.Input((None, None, 3))`): the latency depends on it.

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
    # The whole model is timed afresh: every prediction starts from it,
    # and a timing cached under another load would bias them all.
    model_ms = _measure_keras(batch_one(model), num_threads, runs)
    # Every cached probe is scaled by it: timed long, best of 5.
    reference = _measure_keras(
        _reference_model(), num_threads, 4 * runs, repeats=5
    )
    rows = {}
    names = [g.name for g in graph.groups] if groups is None else groups
    bar = progress_bar(
        len(names),
        verbose,
        f"Latency of {len(names)} channel groups of '{model.name}' at up "
        f"to {points} widths each ({num_threads} thread(s), cached in "
        f"{folder})",
        "group",
    )
    for done, name in enumerate(names, 1):
        group = graph.group(name)
        rows[name] = {
            width: _cached(
                folder, probe_model(graph, name, width), meta, runs, reference
            )
            for width in probe_widths(
                group.size, points, min_channels, round_to
            )
        }
        bar.update(done)
    return LatencyTable(model_ms, rows, {**meta, "source": "measured"})


def measure_latency(model, num_threads=1, runs=RUNS, warmup=5, repeats=3):
    """Measured latency of `model` on the TFLite interpreter (ms).

    The model is converted to float32 TFLite with batch 1 and `invoke()`
    is timed on LiteRT (XNNPACK) when installed, else on TensorFlow's
    interpreter, on `INSTANCES` interpreters: the best is returned (the
    figure `prune(target_latency=...)` lands on). Nothing is cached.

    Args:
        model: A Keras model whose inputs have a fixed size besides the
            batch.
        num_threads: Interpreter threads. Defaults to `1`.
        runs: Timed invokes per repeat. Defaults to `RUNS`.
        warmup: Untimed invokes first. Defaults to `5`.
        repeats: Repeats; the smallest median is returned. Defaults to
            `3`.

    Returns:
        Milliseconds per invoke, a float.

    Raises:
        ValueError: if an input of `model` takes any size
            (`keras.Input((None, None, 3))`): the latency depends on it.

    Example:

    ```python
    small = tfc.prune(model, target_latency=1.5)
    assert measure_latency(small) <= 1.5 * 1.1
    ```
    """
    num_threads = validate_int("num_threads", num_threads, minimum=1)
    runs = validate_int("runs", runs, minimum=1)
    return measure_side_by_side(
        {"model": model}, num_threads, runs, repeats, warmup=warmup
    )["model"]


def measure_side_by_side(
    models, num_threads=1, runs=RUNS, repeats=3, instances=INSTANCES, warmup=5
):
    """Latency of several models timed in interleaved rounds (ms each).

    Each model is converted once (float32, batch 1) into `instances`
    interpreters; each round times every interpreter once (`runs`
    invokes, median); a model's time is its best over rounds and
    interpreters. Load that comes and goes falls on all models alike;
    the best of several interpreters repeats (see `INSTANCES`).

    Args:
        models: `{name: keras.Model}`, each with a fixed input size.
        num_threads: Interpreter threads. Defaults to `1`.
        runs: Timed invokes per interpreter and round. Defaults to `RUNS`.
        repeats: Rounds. Defaults to `3`.
        instances: Interpreters per model. Defaults to `INSTANCES`.
        warmup: Untimed invokes before each timing. Defaults to `5`.

    Returns:
        `{name: milliseconds}`.

    Example:

    ```python
    ms = measure_side_by_side({"full": model, "slim": small})
    print(ms["slim"] / ms["full"])
    ```
    """
    num_threads = validate_int("num_threads", num_threads, minimum=1)
    instances = validate_int("instances", instances, minimum=1)
    runners = []
    for name, model in models.items():
        content = interpreter.to_tflite(batch_one(model))
        runners += [
            (name, interpreter.make_interpreter(content, num_threads)[0])
            for _ in range(instances)
        ]
    best = {}
    for _ in range(validate_int("repeats", repeats, minimum=1)):
        for name, runner in runners:
            ms = interpreter.time_invoke(runner, runs, warmup, 1)
            best[name] = min(best.get(name, ms), ms)
    return best


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


def _without_names(config):
    """`config` with the model's and its layers' names replaced by their
    positions: a model built again (`conv2d_5` for `conv2d`) times the
    same."""
    layers = config.get("layers", []) if isinstance(config, dict) else []
    names = [config.get("name")] + [
        layer.get("name") or layer.get("config", {}).get("name")
        for layer in layers
    ]
    positions = {n: f"#{i}" for i, n in enumerate(names) if n is not None}

    def rename(value):
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [rename(v) for v in value]
        return positions.get(value, value) if isinstance(value, str) else value

    return rename(config)


def _reference_model():
    """The fixed workload every table times beside its probes (see the
    cache in the module docstring); its weights do not change its time."""
    import keras

    inputs = keras.Input((16, 16, 16), batch_size=1)
    x = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same")(x)
    return keras.Model(inputs, x, name="latency_reference")


def _cached(folder, keras_model, meta, runs, reference):
    """The probe's time, scaled to the load of `reference` (ms, the
    reference workload's time now); timed and stored when not cached, or
    cached without a reference time (its load unknown)."""
    config = json.dumps(
        {"model": _without_names(keras_model.get_config()), "meta": meta},
        sort_keys=True,
        default=str,
    )
    key = hashlib.sha256(config.encode("utf-8")).hexdigest()[:32]
    path = os.path.join(folder, key + ".json")
    try:
        with open(path, encoding="utf-8") as f:
            entry = json.load(f)
        then = float(entry["reference_ms"])
        if then > 0:
            return float(entry["ms"]) * reference / then
    except (OSError, ValueError, KeyError, TypeError):
        pass
    ms = _measure_keras(keras_model, meta["num_threads"], runs)
    try:
        os.makedirs(folder, exist_ok=True)
        partial = f"{path}.{os.getpid()}.tmp"
        with open(partial, "w", encoding="utf-8") as f:
            json.dump({"ms": ms, "reference_ms": reference, "meta": meta}, f)
        os.replace(partial, path)
    except OSError:
        pass  # An unwritable cache only costs time.
    return ms


def _measure_keras(keras_model, num_threads, runs, warmup=5, repeats=3):
    """Converts `keras_model` to float32 TFLite and times `invoke()`."""
    content = interpreter.to_tflite(keras_model)
    runner, _ = interpreter.make_interpreter(content, num_threads)
    return interpreter.time_invoke(runner, runs, warmup, repeats)
