"""The one parser of MACs and parameter budgets (`target_macs`, ...).

Every function and callback that takes `target_macs` / `target_params`
reads it with `parse_target`, so a budget means the same everywhere:

- a **fraction** of the dense model's cost: a float in (0, 1] (`0.25`
  keeps a quarter; the int `1` is the whole model, like `1.0`);
- an **absolute count** of MACs or parameters: an int >= 2 (`40_000`,
  `np.int64(40_000)`).

A float above 1 (`1.5`, `4e4`) is refused rather than truncated: it is
neither a fraction nor, unambiguously, a count. NaN, infinities, bools,
strings, zero and negative values are refused too. On the command line,
`parse_target_text` reads `"0.25"`, `"40000"` and `"1.2M"`.

Example:

```python
parse_target("target_macs", 0.25)          # 0.25 (a fraction)
parse_target("target_macs", 40_000)        # 40000 (a count)
parse_target("target_macs", 1.5)           # ValueError: give an int count
target_fraction(40_000, dense=160_000)     # 0.25
parse_target_text("target_macs", "1.2M")   # 1200000
```
"""

import math
import re

from tf_compact.internal.user_warning import warn
from tf_compact.internal.validation import invalid_type
from tf_compact.internal.validation import is_integer
from tf_compact.internal.validation import is_number

#: The costs a budget can count, in the order of `(macs, params)` tuples.
KINDS = ("macs", "params")

_EXPECTED = (
    "a fraction of the dense model's cost (a float in (0, 1], e.g. 0.25) "
    "or an absolute count (an int >= 2, e.g. 40000)"
)
_SUFFIXES = {"k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9}
_TEXT = re.compile(r"^([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)([kmgb]?)$")


def parse_target(name, value):
    """Returns a budget as a fraction (float) or an absolute count (int).

    Args:
        name: The argument's name (`"target_macs"`), for the message.
        value: `None`, a float in (0, 1], or an int >= 2 (Python or
            NumPy). The int `1` is read as the fraction `1.0`.

    Returns:
        `None`, a float in (0, 1] or an int >= 2.

    Raises:
        ArgumentTypeError: For a bool, a string or any non-number.
        ValueError: For NaN, an infinity, zero, a negative value or a
            float above 1 (the message tells how to give a count).
    """
    if value is None:
        return None
    if not is_number(value):
        raise invalid_type(name, _EXPECTED, value)
    if is_integer(value):
        count = int(value)
        if count < 1:
            raise _error(name, value)
        return 1.0 if count == 1 else count
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise _error(name, value)
    if number > 1:
        example = int(number) if number.is_integer() else 40_000
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected {_EXPECTED}. "
            f"A float above 1 is neither: give an absolute count as an int "
            f"(e.g. {name}={example}), or a fraction in (0, 1]. "
            f"Received: {name}={value!r}"
        )
    return number


def parse_targets(target_macs, target_params, caller=None):
    """Returns `{"macs": target, "params": target}` of the given targets.

    Args:
        target_macs: `None` or a budget for `parse_target`.
        target_params: `None` or a budget for `parse_target`.
        caller: The name of the function or class that needs at least one
            target, or `None` when none is fine. Defaults to `None`.

    Returns:
        A dict holding only the targets that are not `None`.

    Raises:
        ValueError: For an invalid target, or no target when `caller` is
            given.
    """
    targets = {}
    for kind, value in zip(KINDS, (target_macs, target_params)):
        parsed = parse_target(f"target_{kind}", value)
        if parsed is not None:
            targets[kind] = parsed
    if caller is not None and not targets:
        raise ValueError(
            f"{caller} needs `target_macs`, `target_params` or both. "
            "Received neither: target_macs=None, target_params=None"
        )
    return targets


def is_count(target):
    """Whether a parsed target is an absolute count (else a fraction)."""
    return isinstance(target, int)


def target_fraction(target, dense, name=None):
    """Returns a parsed target as a fraction of the `dense` cost.

    Args:
        target: A value returned by `parse_target` (not `None`).
        dense: The dense model's cost of the same kind.
        name: The target's argument name: given, a count at or above the
            dense cost warns that it asks for nothing to go. Defaults to
            `None`.

    Returns:
        The fraction, at most `1.0` (a count above the dense cost asks
        for nothing to go).
    """
    if not is_count(target):
        return float(target)
    if dense <= 0:
        return 1.0
    if name is not None and target >= dense:
        warn(
            f"`{name}={target}` is at or above the model's own {dense:,}: "
            "this budget removes nothing. Pass a smaller count, or a "
            f"fraction in (0, 1) such as {name}=0.5.",
        )
    return min(1.0, target / dense)


def parse_target_text(name, text):
    """Reads a budget written on the command line.

    `"0.25"` is a fraction; `"40000"`, `"40k"`, `"1.2M"` and `"3G"` are
    counts (suffixes k, M, G/B for thousands, millions and billions).
    Plain numbers then go through `parse_target`, so `"1.5"` is refused.

    Args:
        name: The flag's name, for the message.
        text: The text of the flag.

    Returns:
        A float in (0, 1] or an int >= 2.

    Raises:
        ValueError: For text that is no budget.
    """
    if not isinstance(text, str):
        return parse_target(name, text)
    cleaned = text.strip().lower().replace("_", "")
    match = _TEXT.match(cleaned)
    if match is None:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a fraction "
            "such as 0.25 or a count such as 40000 or 1.2M. "
            f"Received: {name}={text!r}"
        )
    number, suffix = match.groups()
    if suffix:
        count = round(float(number) * _SUFFIXES[suffix])
        if count < 2:
            raise _error(name, text)
        return count
    if re.fullmatch(r"[0-9]+", number):
        return parse_target(name, int(number))
    return parse_target(name, float(number))


def _error(name, value):
    return ValueError(
        f"Invalid value for argument `{name}`. Expected {_EXPECTED}. "
        f"Received: {name}={value!r}"
    )
