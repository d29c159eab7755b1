"""Argument checks shared by the pruning functions."""

import numbers

CRITERIA = ("l1", "l2", "bn_gamma", "taylor")
NORMALIZERS = ("mean", "max", "sum", None)
SCOPES = ("global", "local", "sensitivity")


def _bad(name, expected, value):
    return ValueError(
        f"Invalid value for argument `{name}`. Expected {expected}. "
        f"Received: {name}={value!r}"
    )


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def validate_criterion(criterion):
    if criterion not in CRITERIA:
        raise _bad("criterion", f"one of {CRITERIA}", criterion)


def validate_normalize(normalize):
    if normalize not in NORMALIZERS:
        raise _bad("normalize", f"one of {NORMALIZERS}", normalize)


def validate_ratio(ratio):
    if not _is_real(ratio) or not 0.0 <= ratio < 1.0:
        raise _bad("ratio", "a float in [0, 1)", ratio)


def validate_target(name, value):
    if not _is_real(value) or not 0.0 < value <= 1.0:
        raise _bad(name, "a float in (0, 1], a fraction of the original", value)


def validate_threshold(threshold):
    if not _is_real(threshold) or threshold < 0:
        raise _bad("threshold", "a non-negative float", threshold)


def validate_goal(ratio, target_macs, target_params, threshold, widths=None):
    """One pruning goal must be given; both targets together are one goal."""
    given = {
        "ratio": ratio,
        "target_macs": target_macs,
        "target_params": target_params,
        "threshold": threshold,
        "widths": widths,
    }
    set_ = [k for k, v in given.items() if v is not None]
    if set_ == ["target_macs", "target_params"]:
        validate_target("target_macs", target_macs)
        validate_target("target_params", target_params)
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
        validate_target(name, given[name])
    return name


def validate_shape_args(scope, min_channels, round_to):
    if scope not in SCOPES:
        raise _bad("scope", f"one of {SCOPES}", scope)
    if not isinstance(min_channels, numbers.Integral) or min_channels < 1:
        raise _bad("min_channels", "an int >= 1", min_channels)
    if round_to is not None and (
        not isinstance(round_to, numbers.Integral) or round_to < 1
    ):
        raise _bad("round_to", "None or an int >= 1", round_to)


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
