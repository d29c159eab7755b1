"""Argument checks shared by the sparsity penalties and controllers."""

import math


def validate_non_negative(name, value):
    """Returns `value` as a float after checking it is finite and >= 0."""
    _validate_number(name, value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a finite float "
            f">= 0. Received: {name}={value!r}"
        )
    return float(value)


def validate_positive(name, value):
    """Returns `value` as a float after checking it is finite and > 0."""
    _validate_number(name, value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a finite float "
            f"> 0. Received: {name}={value!r}"
        )
    return float(value)


def validate_choice(name, value, choices):
    """Returns `value` after checking it is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected one of "
            f"{sorted(choices)}. Received: {name}={value!r}"
        )
    return value


def validate_update_every(value):
    """Checks `update_every`: `"epoch"` or a positive int of steps."""
    if value == "epoch":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            "Invalid value for argument `update_every`. Expected 'epoch' or "
            f"an int >= 1. Received: update_every={value!r}"
        )
    return value


def validate_bounds(minimum, maximum):
    """Checks `min_strength < max_strength`, both > 0."""
    minimum = validate_positive("min_strength", minimum)
    maximum = validate_positive("max_strength", maximum)
    if minimum >= maximum:
        raise ValueError(
            "Invalid values for arguments `min_strength` and `max_strength`. "
            "Expected min_strength < max_strength. Received: "
            f"min_strength={minimum}, max_strength={maximum}"
        )
    return minimum, maximum


def validate_max_change(value):
    """Checks `max_change`, the largest factor of one update (> 1)."""
    _validate_number("max_change", value)
    if not math.isfinite(value) or value <= 1:
        raise ValueError(
            "Invalid value for argument `max_change`. Expected a finite float "
            f"> 1. Received: max_change={value!r}"
        )
    return float(value)


def _validate_number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"Invalid type for argument `{name}`. Expected a float. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
