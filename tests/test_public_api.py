"""The public API is one curated list, and every name in it keeps the
project's promises: it resolves, its docstring states its contract with an
example, it is rendered in docs/api.md, and a class with `get_config`
rebuilds from it.

The list is `tfc.__all__` plus, for each subpackage named there, the
subpackage's own `__all__`.
"""

import copy
import importlib
import inspect
import json
import os
import re

import keras
import numpy as np
import pytest

import tf_compact as tfc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API = os.path.join(ROOT, "docs", "api.md")
ENTRY = re.compile(r"^::: ([\w.]+)\s*$", re.M)
EXAMPLE = re.compile(r"^Examples?:\s*$", re.M)


def _public():
    """`{"tfc.name": object}` for every public name."""
    names = {}
    for name in tfc.__all__:
        names[f"tfc.{name}"] = getattr(tfc, name, None)
    for sub in tfc._SUBMODULES:
        module = getattr(tfc, sub)
        for name in getattr(module, "__all__", ()):
            names[f"tfc.{sub}.{name}"] = getattr(module, name, None)
    return names


PUBLIC = _public()


def _documented(obj):
    """Whether the object carries its own docstring (not a constant)."""
    return inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj)


def _resolve(path):
    """The object a `::: path` entry renders."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(path)


def _entries():
    with open(API, encoding="utf-8") as f:
        return ENTRY.findall(f.read())


# Names a subpackage imports for its own use and keeps out of `__all__`.
NOT_EXPORTED = {"graph": {"register_builtin_handlers"}}


@pytest.mark.parametrize("sub", tfc._SUBMODULES)
def test_every_subpackage_curates_its_public_names(sub):
    module = getattr(tfc, sub)
    assert hasattr(module, "__all__"), f"tfc.{sub} has no __all__"
    names = list(module.__all__)
    assert names == sorted(set(names)), f"tfc.{sub}.__all__ is not sorted"
    assert not [n for n in names if n.startswith("_")], names
    imported = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    uncurated = imported - set(names) - NOT_EXPORTED.get(sub, set())
    assert not uncurated, f"tfc.{sub}: {sorted(uncurated)} not in __all__"


def test_top_level_list_matches_the_lazy_table():
    expected = sorted(tfc._SUBMODULES + tuple(tfc._PUBLIC)) + ["__version__"]
    assert tfc.__all__ == expected


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_name_resolves(name):
    assert PUBLIC[name] is not None, f"{name} is listed but not defined"


@pytest.mark.parametrize(
    "name", sorted(n for n, o in PUBLIC.items() if _documented(o))
)
def test_docstring_states_an_example(name):
    # Its own docstring: `inspect.getdoc` would fall back to a base class's.
    doc = inspect.cleandoc(PUBLIC[name].__doc__ or "")
    assert doc, f"{name} has no docstring"
    assert EXAMPLE.search(doc), f"{name}'s docstring has no Example section"


def test_every_public_name_is_rendered_in_the_api_page():
    rendered = set()
    unresolved = []
    for path in _entries():
        try:
            rendered.add(id(_resolve(path)))
        except (ImportError, AttributeError):
            unresolved.append(path)
    assert not unresolved, f"docs/api.md entries not found: {unresolved}"
    missing = [
        name
        for name, obj in sorted(PUBLIC.items())
        if id(obj) not in rendered
    ]
    assert not missing, f"not rendered in docs/api.md: {missing}"


def test_api_page_has_no_duplicate_entries():
    entries = _entries()
    assert len(entries) == len(set(entries))


# --- get_config / from_config round trips ---------------------------------


def _model(name="tiny"):
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="module")
def tflite():
    return tfc.lite.convert(_model(), mode="float32")


def _graph(_):
    return tfc.ChannelGraph(_model())


def _distiller(_):
    return tfc.Distiller(
        _model("teacher"),
        _model("student"),
        [tfc.LogitsKD(3.0)],
        student_loss_weight=0.4,
    )


def _bundle(_):
    return tfc.data.load("builtin", limit=60, seed=5, batch_size=16)


class _Fixed(tfc.methods.Method):
    """A user-defined method: the base class gives it its config."""

    name = "fixed"

    def __init__(self, fraction=0.5):
        self._init(fraction=float(fraction))


def _benchmark_result(_):
    return tfc.lite.BenchmarkResult(
        name="tiny", runtime="tensorflow", delegate="none", num_threads=1,
        median_ms=1.5, p90_ms=2.0, mean_ms=1.75, size_bytes=1024, runs=4,
        warmup=1,
    )


def _compiler_log(_):
    return tfc.lite.parse_compiler_log(
        "Edge TPU Compiler version 16.0.384591198\n"
        "Model compiled successfully in 12 ms.\n"
    )


def _metadata(_):
    return tfc.lite.ModelMetadata(
        name="tiny",
        inputs=[tfc.lite.TensorMetadata("image", kind="image", mean=[0.0],
                                        std=[1.0])],
        outputs=[tfc.lite.TensorMetadata("logits", labels=["a", "b", "c"])],
    )


# One small instance of every public class that defines `get_config`; a
# builder takes the converted tiny model (for the TFLite reports).
BUILDERS = {
    tfc.AttentionTransfer: lambda t: tfc.AttentionTransfer(
        pairs=[("conv", "conv")], p=2.0, beta=10.0
    ),
    tfc.BNGammaL1: lambda t: tfc.BNGammaL1(strength=0.01, proximal=True),
    tfc.ChannelGraph: _graph,
    tfc.ChannelGroup: lambda t: _graph(t).groups[0],
    tfc.CompressResult: lambda t: tfc.CompressResult(
        None, None, {}, {"method": "one_shot"}, output_dir=None
    ),
    tfc.ContrastiveKD: lambda t: tfc.ContrastiveKD(
        "gap", "gap", embedding_dim=8, memory_size=16
    ),
    tfc.Distiller: _distiller,
    tfc.FeatureKD: lambda t: tfc.FeatureKD(pairs=[("relu", "relu")]),
    tfc.GroupLasso: lambda t: tfc.GroupLasso(strength=0.01, proximal=True),
    tfc.LayerProfile: lambda t: tfc.profile(_model()).layers[1],
    tfc.LogitsKD: lambda t: tfc.LogitsKD(temperature=3.0, standardize=True),
    tfc.ModelProfile: lambda t: tfc.profile(_model(), batch_size=2),
    tfc.Sparsifier: lambda t: tfc.Sparsifier(
        _model(), sparsity=tfc.GroupLasso(0.01)
    ),
    tfc.callbacks.BudgetController: lambda t: tfc.callbacks.BudgetController(
        target_macs=0.5, gain=1.5
    ),
    tfc.callbacks.GradualPruning: lambda t: tfc.callbacks.GradualPruning(
        target_macs=0.5, end_step=10, round_to=2
    ),
    tfc.callbacks.IterativePruning: lambda t: tfc.callbacks.IterativePruning(
        target_params=0.5, fraction=0.3
    ),
    tfc.callbacks.PenaltyController: lambda t: tfc.callbacks.PenaltyController(
        threshold=0.01, max_strength=0.5
    ),
    tfc.callbacks.ProximalStep: lambda t: tfc.callbacks.ProximalStep(),
    tfc.callbacks.SparsityController: (
        lambda t: tfc.callbacks.SparsityController(
            monitor="val_student_loss", reference=0.5, setpoint=0.05, gain=0.25
        )
    ),
    tfc.data.DatasetBundle: _bundle,
    tfc.graph.GroupMember: lambda t: _graph(t).groups[0].members[0],
    tfc.graph.LayerHandler: lambda t: tfc.graph.LayerHandler(),
    tfc.graph.FixedHandler: lambda t: tfc.graph.FixedHandler(),
    tfc.graph.PassThroughHandler: lambda t: tfc.graph.PassThroughHandler(
        per_channel=("alpha",)
    ),
    tfc.graph.PreprocessingHandler: lambda t: tfc.graph.PreprocessingHandler(
        per_channel=("mean",)
    ),
    tfc.lite.BenchmarkResult: _benchmark_result,
    tfc.lite.CompilerLog: _compiler_log,
    tfc.lite.ConversionResult: lambda t: t,
    tfc.lite.EdgeTpuReport: lambda t: tfc.lite.edgetpu_report(t),
    tfc.lite.Finding: lambda t: tfc.lite.Finding(
        rule="float-op", severity="error", message="FLOAT op", fix="int8"
    ),
    tfc.lite.GpuReport: lambda t: tfc.lite.gpu_report(t),
    tfc.lite.ModelMetadata: _metadata,
    tfc.lite.OpRecord: lambda t: tfc.lite.read_ops(t)[0],
    tfc.lite.RuntimeInfo: lambda t: tfc.lite.RuntimeInfo(
        "tensorflow", "none", {"ai_edge_litert": "not installed"}
    ),
    tfc.lite.TensorMetadata: lambda t: tfc.lite.TensorMetadata(
        "image", kind="image", mean=[127.5], std=[127.5]
    ),
    tfc.methods.Auto: lambda t: tfc.methods.Auto(target_macs=0.5),
    tfc.methods.Budget: lambda t: tfc.methods.Budget(target_params=0.5),
    tfc.methods.Controller: lambda t: tfc.methods.Controller(strength=0.01),
    tfc.methods.Export: lambda t: tfc.methods.Export(num_threads=2),
    tfc.methods.Gradual: lambda t: tfc.methods.Gradual(target_macs=0.5),
    tfc.methods.Iterative: lambda t: tfc.methods.Iterative(
        target_macs=0.5, rounds=2
    ),
    tfc.methods.Method: lambda t: _Fixed(0.25),
    tfc.methods.OneShot: lambda t: tfc.methods.OneShot(
        target_macs=0.25, round_to=8
    ),
    tfc.methods.Training: lambda t: tfc.methods.Training(finetune_epochs=1),
    tfc.pruning.LatencyTable: lambda t: tfc.pruning.LatencyTable(
        2.0, {"conv1": {8: 0.3, 16: 0.5}}, {"source": "measured"}
    ),
    tfc.methods.Width: lambda t: tfc.methods.Width(width_multiplier=0.5),
}


def _config_classes():
    found = {}
    for name, obj in PUBLIC.items():
        if inspect.isclass(obj) and hasattr(obj, "get_config"):
            found.setdefault(obj, name)
    return found


CONFIG_CLASSES = _config_classes()


def test_every_config_class_has_a_round_trip_builder():
    missing = sorted(n for c, n in CONFIG_CLASSES.items() if c not in BUILDERS)
    extra = sorted(c.__name__ for c in BUILDERS if c not in CONFIG_CLASSES)
    assert not missing, f"no round-trip builder for {missing}"
    assert not extra, f"builders for non-public classes: {extra}"


def _same(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


@pytest.mark.parametrize(
    "cls", sorted(BUILDERS, key=lambda c: c.__name__), ids=lambda c: c.__name__
)
def test_get_config_from_config_round_trip(cls, tflite):
    obj = BUILDERS[cls](tflite)
    assert isinstance(obj, cls)
    config = obj.get_config()
    # Keras' deserialization consumes the dicts it reads.
    again = type(obj).from_config(copy.deepcopy(config))
    assert type(again) is type(obj)
    assert _same(again.get_config(), config)


@pytest.mark.parametrize(
    "cls",
    sorted(
        (c for c in BUILDERS if not issubclass(c, (keras.Model,))),
        key=lambda c: c.__name__,
    ),
    ids=lambda c: c.__name__,
)
def test_config_is_json(cls, tflite):
    obj = BUILDERS[cls](tflite)
    config = obj.get_config()
    again = type(obj).from_config(json.loads(json.dumps(config)))
    assert _same(json.loads(json.dumps(again.get_config())), json.loads(
        json.dumps(config)
    ))
