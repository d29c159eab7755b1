"""Union-find over channel elements, shared by every handler of a graph."""

import numpy as np


class ElementBuilder:
    """Union-find over channel elements, shared by all handlers.

    Example:

    ```python
    builder = ElementBuilder()
    a = builder.new_elements(4, "conv", fixed=False)
    b = builder.new_elements(4, "other", fixed=False)
    builder.union(a, b)  # a[i] and b[i] are now one channel
    ```
    """

    def __init__(self):
        self.parent = []
        self.fixed = []
        self.origin = []
        self.produced = []
        # Layers whose handlers keep channels whole, in graph order.
        self.fixed_by = []

    def new_elements(self, size, origin, fixed):
        start = len(self.parent)
        ids = np.arange(start, start + size, dtype=np.int64)
        self.parent.extend(ids.tolist())
        self.fixed.extend([fixed] * size)
        self.origin.extend([origin] * size)
        if not fixed and size:
            self.produced.append((origin, ids))
        return ids

    def find(self, e):
        parent = self.parent
        root = e
        while parent[root] != root:
            root = parent[root]
        while parent[e] != root:
            parent[e], e = root, parent[e]
        return root

    def union(self, a, b):
        for x, y in zip(a.tolist(), b.tolist()):
            rx, ry = self.find(x), self.find(y)
            if rx != ry:
                lo, hi = (rx, ry) if rx < ry else (ry, rx)
                self.parent[hi] = lo
                self.fixed[lo] = self.fixed[lo] or self.fixed[hi]

    def fix(self, space, by=None):
        if by is not None and len(space) and by not in self.fixed_by:
            self.fixed_by.append(by)
        for e in space.tolist():
            self.fixed[self.find(e)] = True

    def roots(self):
        return np.array(
            [self.find(e) for e in range(len(self.parent))], dtype=np.int64
        )

    def fixed_roots(self, roots):
        fixed = np.array(self.fixed, dtype=bool)
        out = np.zeros(len(roots), dtype=bool)
        np.logical_or.at(out, roots, fixed)
        return out
