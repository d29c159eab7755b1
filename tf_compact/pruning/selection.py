"""Turning channel scores into masks under width constraints."""

import numpy as np


def keep_count(size, wanted, min_channels, round_to):
    """Kept channels of a group after `min_channels` and `round_to`.

    The wanted count is raised to `min_channels`, then rounded up to a
    multiple of `round_to`, and never exceeds `size`.
    """
    k = max(int(wanted), min(min_channels, size), 1)
    if round_to:
        k = -(-k // round_to) * round_to
    return min(k, size)


def top_mask(score, k):
    """Boolean mask keeping the `k` highest scores (ties: lower index)."""
    order = np.argsort(-score, kind="stable")
    mask = np.zeros(len(score), dtype=bool)
    mask[order[:k]] = True
    return mask


class Selector:
    """Builds masks from scores; `removed` counts are per group.

    Args:
        scores: Dict `{group name: score array}` of the prunable groups.
        min_channels: Smallest width a group is left with.
        round_to: Kept widths are rounded up to a multiple of this, or
            `None`.
    """

    def __init__(self, scores, min_channels=1, round_to=None, segments=None):
        self.scores = scores
        self.segments = segments or {}
        self.min_channels = min_channels
        self.round_to = round_to
        names, values = [], []
        for name, s in scores.items():
            names.extend([name] * len(s))
            values.append(s)
        self._names = np.array(names, dtype=object)
        flat = np.concatenate(values) if values else np.zeros(0)
        self._order = np.argsort(flat, kind="stable")
        self.total = len(flat)

    def masks_for_counts(self, removed):
        """Masks removing (about) `removed[name]` channels per group."""
        masks = {}
        for name, score in self.scores.items():
            size = len(score)
            wanted = size - removed.get(name, 0)
            k = keep_count(size, wanted, self.min_channels, self.round_to)
            if k < size:
                mask = top_mask(score, k)
                for _, channels in self.segments.get(name, ()):
                    if not mask[channels].any():
                        mask[channels[np.argmax(score[channels])]] = True
                masks[name] = mask
        return masks

    def global_counts(self, n_removed):
        """Per-group removal counts of the `n_removed` lowest scores."""
        lowest = self._names[self._order[: int(n_removed)]]
        names, counts = np.unique(lowest, return_counts=True)
        return dict(zip(names.tolist(), counts.tolist()))

    def global_masks(self, n_removed):
        """Masks removing the `n_removed` lowest scores of all groups."""
        return self.masks_for_counts(self.global_counts(n_removed))

    def refine(self, counts, fits):
        """Gives channels back, group by group, while `fits(masks)` holds.

        Groups are visited from the one whose best removed channel scores
        highest; each gives back `round_to` (or 1) channels at a time.
        """
        counts = dict(counts)
        step = self.round_to or 1

        def best_removed(name):
            score = np.sort(self.scores[name])
            return score[counts[name] - 1] if counts[name] else -np.inf

        for name in sorted(counts, key=best_removed, reverse=True):
            while counts[name] > 0:
                trial = {**counts, name: max(counts[name] - step, 0)}
                if not fits(self.masks_for_counts(trial)):
                    break
                counts = trial
        return counts

    def local_masks(self, ratio):
        """Masks removing `floor(ratio * size)` channels of every group."""
        removed = {
            name: int(np.floor(ratio * len(s)))
            for name, s in self.scores.items()
        }
        return self.masks_for_counts(removed)

    def threshold_masks(self, threshold):
        """Masks removing every channel scored below `threshold`."""
        removed = {
            name: int(np.count_nonzero(s < threshold))
            for name, s in self.scores.items()
        }
        return self.masks_for_counts(removed)
