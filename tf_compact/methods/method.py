"""`Method`: a compression method of `tfc.compress` and its settings."""

import copy
import inspect

from tf_compact.internal.targets import parse_target
from tf_compact.internal.validation import invalid


class Settings:
    """Immutable settings checked at construction, with a config.

    The base of the method objects and of `Training`/`Export`. Arguments
    are checked when the object is built, so a mistake is reported before
    any training; `replace(**changes)` returns a new object, checked
    again. Subclasses call `_init(**settings)` with the checked values of
    their constructor arguments, which `get_config` returns.

    Example:

    ```python
    method = tfc.methods.OneShot(target_macs=0.25, round_to=8)
    method.get_config()  # {"target_macs": 0.25, ..., "round_to": 8}
    tfc.methods.OneShot.from_config(method.get_config()) == method  # True
    ```
    """

    def _init(self, **settings):
        object.__setattr__(self, "_settings", settings)

    def __getattr__(self, key):
        settings = self.__dict__.get("_settings", {})
        if key in settings:
            return copy.deepcopy(settings[key])
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {key!r}"
        )

    def __setattr__(self, key, value):
        raise AttributeError(
            f"{type(self).__name__} objects cannot be changed: build a new "
            f"one, e.g. `method.replace({key}=...)`."
        )

    def get_config(self):
        """The constructor arguments, as JSON values."""
        return copy.deepcopy(self._settings)

    @classmethod
    def from_config(cls, config):
        """Builds the object back from `get_config()`."""
        return cls(**config)

    def replace(self, **changes):
        """A new object with `changes` applied to these settings."""
        return type(self)(**{**self._settings, **changes})

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == (
            self.get_config()
        )

    __hash__ = None

    def __repr__(self):
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self)).parameters.items()
        }
        shown = [
            f"{key}={value!r}"
            for key, value in self.get_config().items()
            if key not in defaults or value != _plain(defaults[key])
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


class Method(Settings):
    """Base class of the methods `tfc.compress` runs.

    A method object carries the settings that only its method uses (the
    budget, the pruning criterion, ...); the settings every method shares
    live in `tfc.methods.Training` and `tfc.methods.Export`. Subclasses
    set `name`, the method's name in the report and for
    `tf-compact compress --method`.

    Example:

    ```python
    method = tfc.methods.Budget(target_macs=0.25)
    method.name  # "budget"
    ```
    """

    #: The method's name (`"oneshot"`, `"budget"`, ...).
    name = None


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def parse_budget(owner, target_macs, target_params, required=True):
    """Checks a method's MACs and parameter targets.

    Args:
        owner: the class name, for the message.
        target_macs: `None`, a fraction in (0, 1] or a count (an int >= 2).
        target_params: likewise.
        required: whether at least one target is needed. Defaults to
            `True`.

    Returns:
        `{"target_macs": ..., "target_params": ...}`, parsed.

    Raises:
        ValueError: for an invalid target, or none when one is required.
    """
    targets = {
        "target_macs": parse_target("target_macs", target_macs),
        "target_params": parse_target("target_params", target_params),
    }
    if required and all(value is None for value in targets.values()):
        raise ValueError(
            f"`tfc.methods.{owner}` needs a budget: pass `target_macs`, "
            f"`target_params` or both, e.g. {owner}(target_macs=0.25). "
            "Received: target_macs=None, target_params=None"
        )
    return targets


def refuse_latency(owner, target_latency):
    """Refuses a latency budget on a method that cannot meet one."""
    if target_latency is None:
        return
    raise invalid(
        "target_latency",
        f"None: `tfc.methods.{owner}` meets MACs and parameter budgets "
        "only; a latency budget (milliseconds) is met by one-shot pruning, "
        "`tfc.methods.OneShot(target_latency=...)`",
        target_latency,
    )
