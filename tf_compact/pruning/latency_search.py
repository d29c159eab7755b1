"""`prune(target_latency=...)`: cuts chosen on predictions, kept on
measurements.

The latency table predicts the time of a cut (`LatencyPredictor`); how
far that prediction is off depends on the model (on a plain VGG stack it
over-predicts deep cuts about threefold, as kernels at narrow widths run
faster than the probes timed one group at a time suggest). When the table
was measured on this machine, every slim model is therefore measured
beside the unpruned one, in interleaved rounds, and its time read as a
fraction of the unpruned model's time in the same rounds (so load on the
machine moves both alike); that fraction times the least disturbed time
of the unpruned model seen (the table's, or any taken beside a slim
model) is the slim model's time.

Each try adds a point `(predicted ms, measured fraction)` to a
calibration curve that starts at the unpruned model (its prediction, 1).
The next try's limit on the prediction is where that curve crosses the
target (`next_limit`: a secant through the two points measured nearest
it, kept inside the bracket of points below and above). A try measured
within `TOLERANCE` above and `1 - LOOSEN_BELOW` below the target is
returned at once; otherwise, after `LATENCY_RETRIES` more tries, the
slowest model measured within the tolerance above the target (with a
warning when it is far under).

When the prediction says no cut allowed by `min_channels` / `round_to`
reaches the target, or the tries run out with nothing measured within the
tolerance, the smallest such model is measured: the target is refused
only when that measurement misses too.

A table from another device (`LatencyTable.from_benchmark_model`) cannot
be checked here: the cut meets its prediction and is returned.
"""

import numpy as np

from tf_compact.internal.user_warning import warn
from tf_compact.pruning.latency import TOLERANCE
from tf_compact.pruning.latency import host_meta
from tf_compact.pruning.latency import measure_side_by_side
from tf_compact.pruning.latency_table import LatencyPredictor
from tf_compact.pruning.masks import LatencyUnreached
from tf_compact.pruning.masks import prune_masks
from tf_compact.pruning.masks import reused_sensitivity_tables
from tf_compact.surgery.slim import slim

#: Re-measured tries after the first.
LATENCY_RETRIES = 6

#: A slim model measured under this fraction of its latency target is
#: pruned again with a looser limit (the table over-predicted).
LOOSEN_BELOW = 0.9


def prune_to_latency(model, target, table, kwargs):
    """The slim model of `model` pruned to `target` ms (see the module).

    Args:
        model: The model to prune (not modified).
        target: Milliseconds the slim model may take.
        table: The `LatencyTable` of `model`, keyed by its groups.
        kwargs: The other keyword arguments of `prune_masks`, `graph`
            among them.

    Returns:
        The slim `keras.Model`.

    Raises:
        ValueError: When no model the constraints allow reaches the
            target: by prediction, and for a table measured on this
            machine by measuring the smallest model allowed too.
    """
    with reused_sensitivity_tables():
        search = _Search(model, target, table, kwargs)
        if not measured_on_this_machine(table):
            masks = search.masks_at(target)
            return slim(model, masks, graph=kwargs["graph"])
        return search.run()


def measured_on_this_machine(table):
    """Whether `table` was timed here: measured, on this CPU model, with
    this runtime and version and the same threads (a table saved on
    another machine predicts that machine's milliseconds)."""
    if not table.measured_here:
        return False
    here = host_meta(table.meta.get("num_threads", 1))
    return all(table.meta.get(key) == value for key, value in here.items())


class _Search:
    """The measured tries of one `prune_to_latency`."""

    def __init__(self, model, target, table, kwargs):
        self.model = model
        self.target = target
        self.table = table
        self.kwargs = kwargs
        self.predict = LatencyPredictor(table, kwargs["graph"])
        # (predicted ms, measured fraction of the unpruned model's time,
        # slim model or None for the unpruned)
        self.points = [(table.model_ms, 1.0, None)]
        # The unpruned model's least disturbed time measured here.
        self.full_ms = float("inf")
        # The predicted ms of the smallest model allowed, once measured.
        self.smallest = None

    def masks_at(self, limit):
        """Masks whose prediction is at most `limit` ms."""
        return prune_masks(
            self.model,
            target_latency=limit,
            latency_table=self.table,
            **self.kwargs,
        )

    def run(self):
        limit, seen = self.target, set()
        # Repeated widths cost no measurement: they get a few more turns.
        for _ in range(3 * (LATENCY_RETRIES + 1)):
            if len(seen) > LATENCY_RETRIES:
                break
            masks = self._reachable_masks(limit)
            if masks is None:
                break
            key = _widths_key(masks)
            if key in seen:
                limit = self._nudge(limit)
                if limit is None:
                    break
                continue
            seen.add(key)
            small = self._try(masks, len(seen))
            if self._lands(self.points[-1]):
                return small
            limit = next_limit(self.points, self.target / self.full_ms)
        if self.smallest is None and not self._fitting():
            # Nothing fits yet: whether anything can is the smallest
            # model's to say.
            self._try(self._smallest_masks(), len(seen) + 1)
        return self._best()

    def _try(self, masks, tries):
        small = slim(self.model, masks, graph=self.kwargs["graph"])
        self.points.append((self.predict(masks), self._measure(small), small))
        self._report(tries, self.points[-1][1] * self.full_ms)
        return small

    def _lands(self, point):
        measured = point[1] * self.full_ms
        low = self.target * LOOSEN_BELOW
        return low <= measured <= self.target * (1 + TOLERANCE)

    def _fitting(self):
        return [
            p
            for p in self.points[1:]
            if p[1] * self.full_ms <= self.target * (1 + TOLERANCE)
        ]

    def _reachable_masks(self, limit):
        """Masks at `limit`, or those of the smallest model allowed when
        the prediction says `limit` is out of reach (or `limit` is 0, a
        prediction flat at 0 ms); `None` once that model is measured and
        `limit` is no larger than its prediction."""
        if self.smallest is not None and limit <= self.smallest:
            return None
        if limit > 1e-9 * self.table.model_ms:
            try:
                return self.masks_at(limit)
            except LatencyUnreached:
                pass
        if self.smallest is not None:
            return None
        return self._smallest_masks()

    def _smallest_masks(self):
        """Every prunable channel removed down to what `min_channels` and
        `round_to` keep (and any MACs or parameter target still holds)."""
        kwargs = {
            **self.kwargs,
            "scope": "global",
            "target_macs": None,
            "target_params": None,
        }
        masks = prune_masks(self.model, ratio=1.0 - 1e-12, **kwargs)
        self.smallest = self.predict(masks)
        return masks

    def _nudge(self, limit):
        """A limit past one that gave already measured widths: halfway to
        the next point above it, `None` when there is no room left."""
        above = [p for p, _, _ in self.points if p > limit * (1 + 1e-6)]
        if not above:
            return None
        nudged = (limit + min(above)) / 2
        return nudged if nudged - limit > 1e-4 * self.table.model_ms else None

    def _measure(self, small):
        """`small`'s time as a fraction of the unpruned model's in the
        same rounds; measured again (twice at most) while the unpruned
        model reads more than `TOLERANCE` above its best time (a round
        disturbed on one side)."""
        for _ in range(3):
            ms = measure_side_by_side(
                {"slim": small, "full": self.model},
                self.table.meta["num_threads"],
                repeats=5,
            )
            if ms["full"] <= self.full_ms * (1 + TOLERANCE):
                break
            self.full_ms = min(self.full_ms, ms["full"])
        self.full_ms = min(self.full_ms, ms["full"])
        return ms["slim"] / ms["full"]

    def _report(self, tries, measured):
        if self.kwargs.get("verbose", 1):
            print(
                f"Latency try {tries}: {measured:.4g} ms measured "
                f"(target {self.target:.4g} ms, unpruned "
                f"{self.full_ms:.4g} ms)"
            )

    def _best(self):
        fitting = self._fitting()
        if fitting:
            best = max(fitting, key=lambda p: p[1])
            measured = best[1] * self.full_ms
            if best[0] >= self.table.model_ms:
                warn(
                    f"tfc.prune: target_latency={self.target:.4g} ms is at "
                    f"or above the unpruned model's {self.full_ms:.4g} ms "
                    "measured here: nothing is removed.",
                )
            elif measured < self.target * LOOSEN_BELOW:
                warn(
                    f"tfc.prune: the slowest model found within "
                    f"target_latency={self.target:.4g} ms measures "
                    f"{measured:.4g} ms, {1 - measured / self.target:.0%} "
                    "under it: no width the constraints allow landed "
                    "closer. Loosen `round_to` for finer steps.",
                )
            return best[2]
        fastest = min(self.points[1:], key=lambda p: p[1])
        raise ValueError(
            "Invalid value for argument `target_latency`: the model cannot "
            f"be pruned to {self.target:.4g} ms on this machine; the "
            "smallest model these constraints allow measures "
            f"{fastest[1] * self.full_ms:.4g} ms at best (predicted "
            f"{self.smallest:.4g} ms; unpruned {self.full_ms:.4g} ms). "
            "Raise the target; channels kept whole (`min_channels`, "
            "`round_to`, `ignored_layers`, layers with no prunable group) "
            "bound how fast it can get. Received: "
            f"target_latency={self.target!r}"
        )


def next_limit(points, target):
    """The next limit on the prediction: where the calibration curve
    through `points` `(predicted, measured, ...)` crosses `target`.

    The secant through the two points measured nearest the target follows
    the curve's local slope. With points on both sides of the target, the
    bracket is the point of largest prediction measured at or under it
    and the point of smallest larger prediction measured above it: the
    secant is taken when it falls inside the bracket, else the limit is
    read linearly between the bracket's ends. With points on one side
    only, the nearest prediction is scaled by `target / its measurement`,
    or moved as far as the secant goes when that is further, within 0.3x
    to 3x of it.

    Example:

    ```python
    next_limit([(1.0, 1.0, None), (0.5, 0.2, None)], 0.6)  # 0.75
    ```
    """
    secant = _secant(points, target)
    under = [p for p in points if p[1] <= target]
    if not under:
        low = min(points, key=lambda p: p[0])
        step = low[0] * target / low[1]
        if secant is not None:
            step = min(step, secant)
        return max(step, 0.3 * low[0])
    low = max(under, key=lambda p: p[0])
    over = [p for p in points if p[1] > target and p[0] > low[0]]
    if not over:
        step = low[0] * target / max(low[1], 1e-12)
        if secant is not None:
            step = max(step, secant)
        return min(step, 3.0 * low[0])
    high = min(over, key=lambda p: p[0])
    if secant is not None and low[0] < secant < high[0]:
        return secant
    share = (target - low[1]) / (high[1] - low[1])
    return low[0] + share * (high[0] - low[0])


def _secant(points, target):
    """Where the line through the two points measured nearest `target`
    reaches it; `None` unless that line rises."""
    if len(points) < 2:
        return None
    near = sorted(points, key=lambda p: abs(p[1] - target))[:2]
    (p0, m0, *_), (p1, m1, *_) = near
    if p1 == p0 or (m1 - m0) / (p1 - p0) <= 0:
        return None
    return p0 + (target - m0) * (p1 - p0) / (m1 - m0)


def _widths_key(masks):
    return tuple(
        sorted((name, int(np.count_nonzero(m))) for name, m in masks.items())
    )
