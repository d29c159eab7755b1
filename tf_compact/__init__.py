"""tf_compact: make Keras 3 CNNs small and fast for the edge.

Distill a teacher into a student, sparsify coupled channel groups under
feedback control, physically slim the model, and ship it as TFLite.

It needs the TensorFlow backend of Keras 3: under another backend
(`KERAS_BACKEND=jax`, ...) `import tf_compact` raises an `ImportError`.

Example:

```python
import tf_compact as tfc

report = tfc.profile(model)
print(report.table())
```
"""

# Importing the package is cheap: the public names load on first use, so
# `tf-compact --help` starts without TensorFlow. They load as soon as Keras
# is imported too (at once when it already is, else right after its own
# import), so that `keras.saving.load_model` finds tf_compact's registered
# Keras objects whichever of the two a script imports first.

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

from tf_compact.internal.backend import check_backend
from tf_compact.internal.backend import configured_backend
from tf_compact.version import __version__

check_backend(configured_backend())

# Submodules reached as attributes: tfc.lite.convert, tfc.data.builtin, ...
_SUBMODULES = (
    "callbacks",
    "data",
    "graph",
    "lighten",
    "lite",
    "methods",
    "models",
    "pruning",
)

# Public names and their defining modules.
_PUBLIC = {
    "AttentionTransfer": "tf_compact.distillation.attention_transfer",
    "ContrastiveKD": "tf_compact.distillation.contrastive_kd",
    "Distiller": "tf_compact.distillation.distiller",
    "FeatureKD": "tf_compact.distillation.feature_kd",
    "LogitsKD": "tf_compact.distillation.logits_kd",
    "ChannelGraph": "tf_compact.graph.channel_graph",
    "ChannelGroup": "tf_compact.graph.channel_group",
    "GraphError": "tf_compact.graph.errors",
    "MaskError": "tf_compact.graph.errors",
    "UnsupportedLayerError": "tf_compact.graph.errors",
    "register_handler": "tf_compact.graph.registry",
    "CompressResult": "tf_compact.pipeline",
    "compress": "tf_compact.pipeline",
    "compare_profiles": "tf_compact.profile.compare",
    "LayerProfile": "tf_compact.profile.layer_profile",
    "ModelProfile": "tf_compact.profile.model_profile",
    "profile": "tf_compact.profile.profiler",
    "group_importance": "tf_compact.pruning.importance",
    "prune": "tf_compact.pruning.prune",
    "BNGammaL1": "tf_compact.sparsity.bn_gamma",
    "GroupLasso": "tf_compact.sparsity.group_lasso",
    "iterative_prune": "tf_compact.pipeline.iterative",
    "SparsityReport": "tf_compact.sparsity.report",
    "sparsity_report": "tf_compact.sparsity.report",
    "Sparsifier": "tf_compact.sparsity.sparsifier",
    "apply_masks": "tf_compact.surgery.apply_masks",
    "estimate_slim_cost": "tf_compact.surgery.cost",
    "slim": "tf_compact.surgery.slim",
}

__all__ = sorted(_SUBMODULES + tuple(_PUBLIC)) + ["__version__"]

_public = {}


def _load():
    """Imports every public name once and returns `{name: object}`."""
    if _public:
        return _public
    import keras

    check_backend(keras.config.backend())
    values = {}
    for name in _SUBMODULES:
        values[name] = importlib.import_module(f"{__name__}.{name}")
    for name, module in _PUBLIC.items():
        values[name] = getattr(importlib.import_module(module), name)
    package = sys.modules[__name__].__dict__
    for name, value in values.items():
        if name != "profile":
            package.setdefault(name, value)
    _public.update(values)
    return _public


_overrides = {}


class _Package(types.ModuleType):
    """`tf_compact` itself: public names load on first attribute access.

    `profile` is both a subpackage and the public `profile` function; the
    import system binds the subpackage on the package whenever it first
    imports it, so the name is a property that always returns the function.
    """

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(
                f"module {__name__!r} has no attribute {name!r}"
            )
        values = _load()
        if name in self.__dict__:
            return self.__dict__[name]
        if name in values:
            return values[name]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(__all__))

    @property
    def profile(self):
        if "profile" in _overrides:
            return _overrides["profile"]
        return _load()["profile"]

    @profile.setter
    def profile(self, value):
        if getattr(value, "__name__", None) == f"{__name__}.profile":
            return  # the subpackage, bound by the import system
        _overrides["profile"] = value

    @profile.deleter
    def profile(self):
        _overrides.pop("profile", None)


class _LoadAfterKeras(importlib.abc.MetaPathFinder):
    """Loads the public names once `keras` and `tensorflow` are imported.

    It finds nothing itself: asked for either module by the import system,
    it takes the spec the path finder gives and has its loader try `_load`
    after the module has executed. Each imports the other, so the load
    waits until neither is still initializing; then the finder leaves
    `sys.meta_path`.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _AFTER or fullname in sys.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _load_when_imported(self, fullname)

        spec.loader.exec_module = exec_module
        return spec


_AFTER = ("keras", "tensorflow")


def _load_when_imported(finder, done):
    """`_load` once no module of `_AFTER` but `done` is importing."""
    for name in _AFTER:
        module = sys.modules.get(name)
        spec = getattr(module, "__spec__", None)
        if module is None:
            return
        if name != done and getattr(spec, "_initializing", False):
            return
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
    try:
        _load()
    except Exception:  # noqa: BLE001 - raised again on first use
        _public.clear()


sys.modules[__name__].__class__ = _Package
if "keras" in sys.modules:
    _load()
elif not any(isinstance(f, _LoadAfterKeras) for f in sys.meta_path):
    sys.meta_path.insert(0, _LoadAfterKeras())
