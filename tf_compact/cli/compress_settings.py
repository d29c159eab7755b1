"""`tf-compact compress` flags → `tfc.methods` objects and a strategy.

The command's flags are flat (`--method=oneshot --round_to=8`); `compress`
takes a method object carrying its own settings plus the shared
`Training` and `Export` settings. `build_method` maps one onto the other
and refuses a flag given for a method that does not use it.
"""

import inspect

from absl import flags

from tf_compact.internal import distribute
from tf_compact.internal.targets import parse_target_text
from tf_compact.methods.registry import METHODS
from tf_compact.methods.settings import Export
from tf_compact.methods.settings import Training

#: The method flags each method takes. `target_latency` is passed to all,
#: so the methods that cannot meet one refuse it in their own words.
TAKES = {
    "oneshot": (
        "target_macs",
        "target_params",
        "target_latency",
        "latency_table",
        "widths",
        "allocation",
        "importance",
        "round_to",
    ),
    # Only one-shot pruning meets a latency budget (`--target_latency`).
    "gradual": ("target_macs", "target_params", "importance", "round_to"),
    "iterative": ("target_macs", "target_params", "importance"),
    "budget": ("target_macs", "target_params", "strength"),
    "controller": ("strength",),
    "width": ("width_multiplier",),
}
#: Flags a method cannot run without, with what they give it.
REQUIRES = {
    "width": {
        "width_multiplier": "the fraction of the teacher's channels the "
        "student keeps, e.g. --width_multiplier=0.5",
    }
}
#: `--distribution_strategy` values: the names `resolve_strategy` takes.
STRATEGIES = distribute.STRATEGY_NAMES


def _default(cls, argument):
    """The default value of `argument` in `cls`'s constructor."""
    return inspect.signature(cls).parameters[argument].default


#: What `tfc.compress` uses for the flags left unset, shown by `--help`.
API_DEFAULTS = {
    "kd_learning_rate": _default(Training, "learning_rate"),
    "temperature": _default(Training, "temperature"),
    "student_loss_weight": _default(Training, "student_loss_weight"),
    "standardize_logits": _default(Training, "standardize_logits"),
    "importance": _default(METHODS["oneshot"], "importance"),
    "allocation": _default(METHODS["oneshot"], "allocation"),
}


def build_method(name, options, given=()):
    """The `tfc.methods` object the method flags describe.

    Args:
        name: the `--method` value; `"auto"` is `oneshot` with a budget or
            `widths`, else `controller`.
        options: `{flag name: value}` of the method flags (`None` or an
            empty list for unset).
        given: names of the flags set explicitly on the command line. With
            `widths` or `target_latency` and no explicit `target_macs`, the
            default MACs target is dropped (the widths are checked against
            explicit targets only; a latency budget alone is the budget).

    Returns:
        A `tfc.methods.Method`.

    Raises:
        ValueError: for a flag given for a method that does not use it
            (the defaults of the budget flags aside), a flag the method
            requires left unset, or settings the method refuses.

    Example:

    ```python
    build_method("auto", {"target_macs": 0.25, "round_to": 8})
    # OneShot(target_macs=0.25, round_to=8)
    ```
    """
    options = {k: v for k, v in options.items() if v not in (None, [])}
    own_budget = {"widths", "target_latency"} & set(options)
    if own_budget and "target_macs" not in given:
        options.pop("target_macs", None)
    if name == "auto":
        budget = ("target_macs", "target_params", "target_latency", "widths")
        name = "oneshot" if any(k in options for k in budget) else "controller"
    takes = TAKES[name]
    # Only the budget flags' defaults pass silently a method that takes no
    # budget (`controller`, `width`): given explicitly, they are refused.
    for flag in sorted(set(given) & set(options)):
        if flag not in takes:
            users = [m for m, names in TAKES.items() if flag in names]
            raise ValueError(
                f"--{flag} does not apply to --method={name}; it is a "
                f"setting of --method={'|'.join(users)}."
            )
    for flag, what in REQUIRES.get(name, {}).items():
        if flag not in options:
            raise ValueError(
                f"--method={name} needs --{flag}: the flag is required "
                f"for that method ({what})."
            )
    return METHODS[name](**{k: options[k] for k in takes if k in options})


def build_training(options):
    """`tfc.methods.Training` from the flags' values (`None`: default)."""
    return Training(**{k: v for k, v in options.items() if v is not None})


def build_export(
    tflite_modes, edgetpu=False, labels="auto", normalization="auto"
):
    """`tfc.methods.Export` with the given TFLite modes.

    `edgetpu` (the shared `--edgetpu` flag) adds the Edge TPU file and
    its report; `labels` and `normalization` (from
    `app_flags.app_metadata_settings`) go into the files' metadata.
    """
    return Export(
        tflite_modes=tuple(tflite_modes),
        edgetpu=edgetpu,
        labels=labels,
        normalization=normalization,
    )


def build_strategy(name):
    """The `tf.distribute.Strategy` a `--distribution_strategy` names.

    Args:
        name: `"none"` (no strategy), `"mirrored"` (every local GPU, or
            the CPU) or `"multi_worker"` (`MultiWorkerMirroredStrategy`,
            its workers read from the `TF_CONFIG` environment variable).

    Returns:
        A strategy, or `None` for `"none"`.

    Raises:
        ValueError: for another name (see
            `tf_compact.internal.distribute.resolve_strategy`, which makes
            the strategy).
    """
    if distribute.strategy_key(name) == distribute.NONE:
        return None
    return distribute.resolve_strategy(name)


class TargetParser(flags.ArgumentParser):
    """Reads a budget flag: `0.25`, `40000` or `1.2M`; `0` is none."""

    syntactic_help = "a fraction in (0, 1], a count (40000, 1.2M) or 0"

    def __init__(self, name):
        self.name = name

    def parse(self, argument):
        if isinstance(argument, str) and argument.strip() in ("0", "0.0"):
            return 0
        if not isinstance(argument, str) and argument == 0:
            return 0
        return parse_target_text(self.name, argument)


class StrategyParser(flags.ArgumentParser):
    """Reads `--distribution_strategy` as `tfc.compress` reads `strategy`:
    any case, `-` or `_`, and the aliases in use (`off`, ...)."""

    syntactic_help = f"one of {', '.join(STRATEGIES)} (any case)"

    def flag_type(self):
        return "string"

    def parse(self, argument):
        try:
            return distribute.strategy_key(argument)
        except (TypeError, ValueError):
            raise ValueError(
                f"expected {self.syntactic_help}; got {argument!r}"
            ) from None


def parse_target_flag(name, value):
    """A budget flag's value as `compress` takes it; `None` for 0/unset."""
    if value is None:
        return None
    return TargetParser(name).parse(value) or None
