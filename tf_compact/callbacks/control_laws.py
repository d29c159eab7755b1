"""Control laws: how a controller moves a strength from one measurement.

A law maps `(measured, target, context)` to the factor by which the
strength is multiplied, and so to the next strength. It knows nothing of
what is measured (a cost fraction, a gap) or of where the strength is
kept (the penalty's global strength, one scale per block): the targeting
rule and the budget scope see to those.

- `MultiplicativeLaw`: proportional in the log domain, with a hold band;
  raises the strength over the target and lowers it well under it.
- `RampLaw`: only raises, at least at the ramp rate that crosses the
  strength's range within a given fraction of the fit.
"""

import dataclasses
import math

import numpy as np

from tf_compact.sparsity import validation


@dataclasses.dataclass(frozen=True)
class LawContext:
    """What a law needs to know of the controller, besides the measurement.

    Attributes:
        min_strength: Lower bound of the strength.
        max_strength: Upper bound of the strength.
        max_change: Largest factor of one update (before any ramp).
        updates: Updates the fit will make (at least 1).
    """

    min_strength: float
    max_strength: float
    max_change: float
    updates: int = 1


class ControlLaw:
    """Base class of the laws: `(measured, target, context)` -> strength.

    Subclasses define `log_factor` (the exponent; `0` holds the strength)
    and may bound it differently in `factor`. `next_strength` is the
    contract every controller uses:

    ```
    lambda <- clip(max(lambda, min_strength) * factor(m, t),
                   min_strength, max_strength)
    ```
    """

    def log_factor(self, measured, target, context):
        """Returns the unbounded exponent of the factor."""
        raise NotImplementedError

    def factor(self, measured, target, context):
        """Returns `exp(log_factor)` limited to `[1/max_change, max_change]`."""
        exponent = self.log_factor(measured, target, context)
        return bounded_exp(exponent, context.max_change)

    def next_strength(self, strength, measured, target, context):
        """Returns the strength after one update from `strength`.

        Args:
            strength: The current strength (a float or a NumPy scalar; the
                result has its precision).
            measured: What was measured (e.g. a cost fraction).
            target: What it should be.
            context: A `LawContext`.
        """
        factor = self.factor(measured, target, context)
        return scale_strength(strength, factor, context)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MultiplicativeLaw(ControlLaw):
    """Proportional law in the log domain, with a hold band under the target.

    ```
    m > t:                   e = (m - t) / t
    t - tolerance <= m <= t: e = 0 (strength held)
    m < t - tolerance:       e = (m - t + tolerance) / t
    lambda <- lambda * exp(clip(gain * e, -log(max_change), log(max_change)))
    ```

    Args:
        gain: Proportional gain on the relative error. Defaults to `2.0`.
        tolerance: Width of the hold band under the target. Defaults to
            `0.02`.

    Example:

    ```python
    law = MultiplicativeLaw(gain=2.0, tolerance=0.02)
    law.next_strength(1e-3, 0.6, 0.5, LawContext(1e-6, 1.0, 2.0))  # 1.49e-3
    ```
    """

    def __init__(self, gain=2.0, tolerance=0.02):
        self.gain = validation.validate_positive("gain", gain)
        self.tolerance = validation.validate_non_negative(
            "tolerance", tolerance
        )

    def log_factor(self, measured, target, context):
        if measured > target:
            error = (measured - target) / target
        elif measured < target - self.tolerance:
            error = (measured - target + self.tolerance) / target
        else:
            return 0.0
        return self.gain * error

    def get_config(self):
        return {"gain": self.gain, "tolerance": self.tolerance}


class RampLaw(ControlLaw):
    """Grow-only law: proportional over the target, never below a ramp rate.

    ```
    m > t:  e = max(gain * (m - t) / t, r)
            lambda <- lambda * exp(min(e, max(log(max_change), r)))
    m <= t: lambda held
    ```

    with the ramp rate `r = log(max_strength / min_strength) / (ramp *
    updates)`, so the strength can cross its whole range within `ramp` of
    the fit. `ramp=None` keeps the proportional term alone (`r = 0`).

    Args:
        gain: Proportional gain on the relative error. Defaults to `2.0`.
        ramp: Fraction of the fit in (0, 1], or `None`. Defaults to `0.3`.

    Example:

    ```python
    law = RampLaw(gain=2.0, ramp=0.3)
    law.next_strength(1e-3, 0.5, 0.5, LawContext(1e-6, 10.0, 2.0))  # held
    ```
    """

    def __init__(self, gain=2.0, ramp=0.3):
        self.gain = validation.validate_positive("gain", gain)
        self.ramp = validate_ramp(ramp)

    def rate(self, context):
        """The least exponent per update while over the target."""
        return ramp_rate(self.ramp, context)

    def log_factor(self, measured, target, context):
        if not measured > target:
            return 0.0
        return max(self.gain * (measured - target) / target, self.rate(context))

    def factor(self, measured, target, context):
        exponent = self.log_factor(measured, target, context)
        if exponent > 0:
            limit = max(np.log(context.max_change), self.rate(context))
            return float(np.exp(min(exponent, limit)))
        return bounded_exp(exponent, context.max_change)

    def get_config(self):
        return {"gain": self.gain, "ramp": self.ramp}


def ramp_rate(ramp, context):
    """Returns `log(max_strength / min_strength) / (ramp * updates)`.

    `0.0` when `ramp` is `None`; the denominator is at least 1.
    """
    if ramp is None:
        return 0.0
    span = np.log(context.max_strength / context.min_strength)
    return float(span / max(1.0, ramp * context.updates))


def validate_ramp(ramp):
    """Returns `ramp` if it is `None` or in (0, 1], else raises ValueError."""
    if ramp is not None and not 0 < ramp <= 1:
        raise ValueError(
            "Invalid value for argument `ramp`. Expected a fraction of "
            f"the fit in (0, 1]. Received: ramp={ramp!r}"
        )
    return ramp


def scale_strength(strength, factor, context):
    """Returns `clip(max(strength, min) * factor, min, max)`.

    Computed in `strength`'s precision (a float32 variable's value stays
    float32).
    """
    lo, hi = context.min_strength, context.max_strength
    return np.clip(np.maximum(strength, lo) * factor, lo, hi)


def bounded_exp(log_factor, max_change):
    """Returns `exp(log_factor)` clipped to `[1/max_change, max_change]`.

    Computed in the log domain: the exponent is clipped first, so any
    finite or infinite `log_factor` gives a finite factor (NaN gives 1).

    Example:

    ```python
    bounded_exp(1e6, 2.0)   # 2.0, where math.exp(1e6) overflows
    ```
    """
    limit = math.log(max_change)
    log_factor = float(log_factor)
    if math.isnan(log_factor):
        return 1.0
    return math.exp(min(max(log_factor, -limit), limit))
