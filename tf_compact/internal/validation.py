"""Argument checks shared by the whole library: `validate_x(name, value)`.

Every validator takes the argument's name first and its value second,
returns the value converted to a plain Python type, and raises in the
Keras style: "Invalid value for argument `x`. Expected ... Received:
x=...". A number is a Python `int`/`float` or a NumPy scalar; a `bool` is
never a number. A value of the wrong type raises `ArgumentTypeError`,
which is both a `TypeError` and a `ValueError`; a value out of range
raises `ValueError`.

Example:

```python
gain = validate_positive("gain", gain)               # float, finite, > 0
every = validate_int("every", every, minimum=1)      # int
ratio = validate_number("ratio", ratio, minimum=0.0, maximum=1.0,
                        include_maximum=False)
```
"""

import math
import numbers

import numpy as np


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a `TypeError` and a `ValueError`)."""


def invalid(name, expected, value):
    """Returns the `ValueError` "Invalid value for argument `name`...".

    Args:
        name: The argument's name.
        expected: What was expected, e.g. `"a float in (0, 1]"`.
        value: What was received.
    """
    return ValueError(
        f"Invalid value for argument `{name}`. Expected {expected}. "
        f"Received: {name}={value!r}"
    )


def invalid_type(name, expected, value):
    """Returns the `ArgumentTypeError` for a value of the wrong type."""
    return ArgumentTypeError(
        f"Invalid value for argument `{name}`. Expected {expected}. "
        f"Received: {name}={value!r} of type {type(value).__name__}"
    )


def is_number(value):
    """Whether `value` is a real number (Python or NumPy), not a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (numbers.Real, np.integer, np.floating))


def is_integer(value):
    """Whether `value` is an integer (Python or NumPy), not a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (numbers.Integral, np.integer))


def validate_number(
    name,
    value,
    minimum=None,
    maximum=None,
    include_minimum=True,
    include_maximum=True,
    expected=None,
):
    """Returns `value` as a finite Python float within the given bounds.

    Args:
        name: The argument's name, for the error message.
        value: The value to check: an int, float or NumPy scalar.
        minimum: Lower bound, or `None`. Defaults to `None`.
        maximum: Upper bound, or `None`. Defaults to `None`.
        include_minimum: Whether `minimum` itself is allowed. Defaults to
            `True`.
        include_maximum: Whether `maximum` itself is allowed. Defaults to
            `True`.
        expected: The words of the error message after "Expected", or
            `None` to describe the bounds. Defaults to `None`.

    Returns:
        A float.

    Raises:
        ArgumentTypeError: If `value` is not a number (a bool is not).
        ValueError: If `value` is NaN, infinite or out of bounds.
    """
    expected = expected or _describe(
        "a finite float", minimum, maximum, include_minimum, include_maximum
    )
    if not is_number(value):
        raise invalid_type(name, expected, value)
    number = float(value)
    if not math.isfinite(number) or not _within(
        number, minimum, maximum, include_minimum, include_maximum
    ):
        raise invalid(name, expected, value)
    return number


def validate_int(name, value, minimum=None, maximum=None, expected=None):
    """Returns `value` as a Python int within `[minimum, maximum]`.

    Args:
        name: The argument's name, for the error message.
        value: A Python or NumPy integer (a bool or a float is refused,
            even `4.0`).
        minimum: Lower bound, or `None`. Defaults to `None`.
        maximum: Upper bound, or `None`. Defaults to `None`.
        expected: The words of the error message after "Expected", or
            `None` to describe the bounds. Defaults to `None`.

    Returns:
        An int.

    Raises:
        ArgumentTypeError: If `value` is not an integer.
        ValueError: If `value` is out of bounds.
    """
    expected = expected or _describe("an int", minimum, maximum, True, True)
    if not is_integer(value):
        raise invalid_type(name, expected, value)
    if not _within(int(value), minimum, maximum, True, True):
        raise invalid(name, expected, value)
    return int(value)


def validate_positive(name, value):
    """Returns `value` as a float after checking it is finite and > 0."""
    return validate_number(name, value, minimum=0.0, include_minimum=False)


def validate_non_negative(name, value):
    """Returns `value` as a float after checking it is finite and >= 0."""
    return validate_number(name, value, minimum=0.0)


def validate_fraction(name, value, include_zero=False, include_one=True):
    """Returns `value` as a float in (0, 1] (bounds as asked).

    Args:
        name: The argument's name, for the error message.
        value: The value to check.
        include_zero: Whether 0 is allowed. Defaults to `False`.
        include_one: Whether 1 is allowed. Defaults to `True`.
    """
    return validate_number(
        name,
        value,
        minimum=0.0,
        maximum=1.0,
        include_minimum=include_zero,
        include_maximum=include_one,
    )


def validate_bool(name, value):
    """Returns `value` as a bool; only `True`/`False` (or NumPy's) pass."""
    if not isinstance(value, (bool, np.bool_)):
        raise invalid_type(name, "a bool", value)
    return bool(value)


def validate_choice(name, value, choices):
    """Returns `value` after checking it is one of `choices`."""
    try:
        known = value in choices
    except TypeError:
        known = False
    if not known:
        raise invalid(name, f"one of {list(choices)}", value)
    return value


def _within(value, minimum, maximum, include_minimum, include_maximum):
    low = minimum is None or value > minimum or (
        value == minimum and include_minimum
    )
    high = maximum is None or value < maximum or (
        value == maximum and include_maximum
    )
    return low and high


def _describe(kind, minimum, maximum, include_minimum, include_maximum):
    if minimum is not None and maximum is not None:
        left = "[" if include_minimum else "("
        right = "]" if include_maximum else ")"
        return f"{kind} in {left}{minimum:g}, {maximum:g}{right}"
    if minimum is not None:
        return f"{kind} {'>=' if include_minimum else '>'} {minimum:g}"
    if maximum is not None:
        return f"{kind} {'<=' if include_maximum else '<'} {maximum:g}"
    return kind
