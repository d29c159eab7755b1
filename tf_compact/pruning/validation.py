"""Argument checks shared by the pruning functions."""

import numpy as np

from tf_compact.internal.targets import parse_target
from tf_compact.internal.validation import invalid
from tf_compact.internal.validation import validate_choice
from tf_compact.internal.validation import validate_int
from tf_compact.internal.validation import validate_non_negative
from tf_compact.internal.validation import validate_number

CRITERIA = ("l1", "l2", "bn_gamma", "taylor")
NORMALIZERS = ("mean", "max", "sum", None)
SCOPES = ("global", "local", "sensitivity")


_bad = invalid


class UnreachableTarget(ValueError):
    """A MACs or parameter target that pruning cannot reach.

    Attributes:
        name: the argument, `"target_macs"` or `"target_params"`.
        value: its value as given (a fraction, or a count > 1).
        target: the target as a fraction of the model's cost.
        reached: the smallest fraction reachable under the constraints.
        total: the model's cost (MACs or parameters).
        what: `"MACs"` or `"parameters"`.
        kept_whole_by: layers whose channels (and those coupled to them)
            are never pruned, e.g. grouped convolutions and the outputs.
    """

    def __init__(
        self, name, value, target, reached, total, what, kept_whole_by=()
    ):
        self.name, self.value, self.target = name, value, target
        self.reached, self.total, self.what = reached, total, what
        self.kept_whole_by = tuple(kept_whole_by)
        goal = f"{target:.1%} of its {what}"
        if value > 1:  # a count: say it as one
            goal = f"{value:,} of its {total:,} {what}"
        why = ""
        if self.kept_whole_by:
            shown = ", ".join(self.kept_whole_by[:8])
            more = len(self.kept_whole_by) - 8
            shown += f" and {more} more" if more > 0 else ""
            why = (
                f" Layers that keep their channels whole: {shown} "
                "(`tfc.ChannelGraph(model).summary()` lists what can be "
                "pruned)."
            )
        super().__init__(
            f"Invalid value for argument `{name}`: the model cannot be "
            f"pruned to {goal}; with the given constraints the smallest "
            f"reachable is {reached:.1%} ({round(reached * total):,}).{why} "
            f"Received: {name}={value!r}"
        )


def validate_criterion(criterion, name="criterion"):
    validate_choice(name, criterion, CRITERIA)


def validate_normalize(normalize):
    validate_choice("normalize", normalize, NORMALIZERS)


def validate_ratio(ratio):
    return validate_number(
        "ratio", ratio, minimum=0.0, maximum=1.0, include_maximum=False
    )


def validate_threshold(threshold):
    return validate_non_negative("threshold", threshold)


def validate_scores(scores, origin):
    """Checks that every score is a finite number, naming the group.

    Args:
        scores: `{group name: array of scores}`.
        origin: What produced them, for the message (e.g.
            `"importance"` or `"criterion 'taylor'"`).

    Raises:
        ValueError: For a group with a NaN or infinite score.
    """
    for name, values in scores.items():
        values = np.asarray(values)
        if values.dtype.kind not in "iufb":
            raise ValueError(
                f"Invalid value for argument `importance`: the scores of "
                f"group {name!r} are not numbers. Received: {values!r}"
            )
        bad = ~np.isfinite(values.astype("float64"))
        if bad.any():
            raise ValueError(
                f"Invalid value for argument `importance`: {origin} gives "
                f"group {name!r} {int(bad.sum())} non-finite score(s) (at "
                f"channels {np.flatnonzero(bad)[:8].tolist()}). Expected "
                f"finite scores. Received: {name!r}: {values.tolist()}"
            )


def validate_target_latency(target_latency):
    """Returns `target_latency` (milliseconds) as a float, finite and > 0.

    NumPy scalars are accepted; bools, NaN, infinities, zero, negative
    values and non-numbers are refused.
    """
    return validate_number(
        "target_latency",
        target_latency,
        minimum=0.0,
        include_minimum=False,
        expected="a finite time in milliseconds > 0 (a float)",
    )


def validate_goal(
    ratio,
    target_macs,
    target_params,
    threshold,
    widths=None,
    target_latency=None,
):
    """One pruning goal must be given; the targets together are one goal.

    `target_latency` may be given alone or with `target_macs` and/or
    `target_params` (every target must then hold); the goal is then
    `"targets"`.
    """
    if target_latency is not None:
        validate_target_latency(target_latency)
        others = {
            "ratio": ratio,
            "threshold": threshold,
            "widths": widths,
        }
        clash = [k for k, v in others.items() if v is not None]
        if clash:
            raise ValueError(
                "`target_latency` may be combined with `target_macs` and "
                f"`target_params` only, not with `{clash[0]}`. Received: "
                f"target_latency={target_latency!r}, "
                f"{clash[0]}={others[clash[0]]!r}"
            )
        parse_target("target_macs", target_macs)
        parse_target("target_params", target_params)
        return "targets"
    given = {
        "ratio": ratio,
        "target_macs": target_macs,
        "target_params": target_params,
        "threshold": threshold,
        "widths": widths,
    }
    set_ = [k for k, v in given.items() if v is not None]
    if set_ == ["target_macs", "target_params"]:
        parse_target("target_macs", target_macs)
        parse_target("target_params", target_params)
        return "targets"
    if len(set_) != 1:
        raise ValueError(
            "Expected exactly one of `ratio`, `target_macs`, "
            "`target_params`, `threshold`, `widths` (or both targets "
            "together). "
            f"Received: {set_ or 'none'}"
        )
    name = set_[0]
    if name == "ratio":
        validate_ratio(ratio)
    elif name == "threshold":
        validate_threshold(threshold)
    elif name == "widths":
        if not isinstance(widths, dict) or not widths:
            raise _bad("widths", "a non-empty dict {name: int}", widths)
    else:
        parse_target(name, given[name])
    return name


def validate_shape_args(scope, min_channels, round_to):
    validate_choice("scope", scope, SCOPES)
    validate_int("min_channels", min_channels, minimum=1)
    if round_to is not None:
        validate_int(
            "round_to", round_to, minimum=1, expected="None or an int >= 1"
        )


def parse_widths(items):
    """Turns `["name=count", ...]` (a command-line list) into a dict.

    Args:
        items: strings `"name=count"`, e.g. from an absl list flag.

    Returns:
        `{name: count}` for `tfc.prune(widths=...)` and
        `tfc.compress(widths=...)`, or `None` when `items` is empty.

    Raises:
        ValueError: for an item that is not `name=int`, or a name given
            twice.

    Example:

    ```python
    parse_widths(["block2_conv1=32", "fc1=72"])  # {"block2_conv1": 32, ...}
    ```
    """
    widths = {}
    for item in items or ():
        name, sep, count = str(item).partition("=")
        name, count = name.strip(), count.strip()
        if not sep or not name or not count.isdigit():
            raise ValueError(
                "Invalid value for argument `widths`. Expected items "
                f"'name=count' with an int count. Received: {item!r}"
            )
        if name in widths:
            raise ValueError(
                f"Invalid value for argument `widths`: {name!r} is given "
                f"twice. Received: {list(items)}"
            )
        widths[name] = int(count)
    return widths or None


def free_input_shape(model):
    """The first input shape of `model` with an unknown size, or `None`.

    Args:
        model: A `keras.Model`.

    Returns:
        The shape (batch axis included) of the first input with a `None`
        dimension besides the batch, as a tuple, e.g. `(None, None, None,
        3)` for `keras.Input((None, None, 3))`; `None` when every input has
        a fixed size.
    """
    for tensor in getattr(model, "inputs", None) or ():
        shape = tuple(tensor.shape)
        if any(size is None for size in shape[1:]):
            return shape
    return None


def fixed_size_example(shape):
    """`keras.Input(...)` code for `shape` with its free sizes made 224."""
    sizes = tuple(224 if size is None else int(size) for size in shape[1:])
    return f"`keras.Input({sizes})`"


def validate_known_macs(model, target_macs):
    """Refuses a MACs target for a model whose MACs depend on the input size.

    A convolution's MACs scale with the height and width of its input: on
    a model built for inputs of any size (`keras.Input((None, None, 3))`)
    they are unknown, and a fraction of them means nothing.

    Raises:
        ValueError: when `target_macs` is given and an input of `model`
            takes any size.
    """
    _refuse_any_size(
        model, "target_macs", target_macs, "its MACs depend on that size"
    )


def validate_known_latency(model, target_latency):
    """Refuses a latency target for a model whose inputs take any size.

    The time a convolution takes grows with the height and width of its
    input: a model built for inputs of any size can only be timed at a
    placeholder size (1x1 pixels), at which every budget looks met.

    Raises:
        ValueError: when `target_latency` is given and an input of `model`
            takes any size.
    """
    _refuse_any_size(
        model,
        "target_latency",
        target_latency,
        "its latency depends on that size and cannot be timed",
    )


def _refuse_any_size(model, argument, value, what):
    shape = free_input_shape(model)
    if value is None or shape is None:
        return
    raise ValueError(
        f"Invalid value for argument `{argument}`: the input of model "
        f"'{model.name}' takes any size (input shape {shape}), and {what}. "
        "Expected a model with a fixed "
        "input size: rebuild it on the size it will run at (e.g. "
        f"{fixed_size_example(shape)}, weights copied with `set_weights`), "
        f"or give `target_params`. Received: {argument}={value!r}"
    )
