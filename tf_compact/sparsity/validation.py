"""Argument checks of the sparsity penalties and controllers.

The generic checks are those of `tf_compact.internal.validation` (same
`validate_x(name, value)` signature, NumPy scalars accepted, bools
refused); the checks below are the controllers' own.
"""

from tf_compact.internal.validation import invalid
from tf_compact.internal.validation import is_integer
from tf_compact.internal.validation import validate_choice
from tf_compact.internal.validation import validate_int
from tf_compact.internal.validation import validate_non_negative
from tf_compact.internal.validation import validate_number
from tf_compact.internal.validation import validate_positive

__all__ = [
    "validate_bounds",
    "validate_choice",
    "validate_int",
    "validate_max_change",
    "validate_non_negative",
    "validate_positive",
    "validate_update_every",
]


def validate_update_every(name, value):
    """Checks `update_every`: `"epoch"` or a positive int of steps."""
    if isinstance(value, str) and value == "epoch":
        return value
    if not is_integer(value) or value < 1:
        raise invalid(name, "'epoch' or an int >= 1", value)
    return int(value)


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


def validate_max_change(name, value):
    """Checks `max_change`, the largest factor of one update (> 1)."""
    return validate_number(name, value, minimum=1.0, include_minimum=False)
