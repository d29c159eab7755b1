"""Before/after comparison of two model profiles."""

import keras

from tf_compact.profile import formatting
from tf_compact.profile.model_profile import ModelProfile
from tf_compact.profile.profiler import profile


def _ratio(after, before):
    if not before:
        return None
    return after / before


def _as_profile(value, argument, batch_size):
    if isinstance(value, ModelProfile):
        return value
    if isinstance(value, keras.Model):
        return profile(value, batch_size=batch_size)
    raise TypeError(
        f"Invalid value for argument `{argument}`. Expected a `keras.Model` "
        f"or a `ModelProfile`. Received: {argument}={value!r} of type "
        f"{type(value).__name__}"
    )


class ProfileComparison:
    """Per-layer and total costs of a model before and after compression.

    Rows are matched by layer path; a layer present on one side only shows
    "-" on the other. Built by `tf_compact.compare_profiles`.

    Args:
        before: `ModelProfile` of the original model.
        after: `ModelProfile` of the compressed model.

    Example:

    ```python
    cmp = tfc.compare_profiles(teacher, student)
    print(cmp.table())
    cmp.macs_reduction        # e.g. 4.2 (before / after)
    ```
    """

    _LABELS = {
        "macs": "MACs",
        "other_ops": "Other ops",
        "params": "Params",
        "trainable_params": "Trainable params",
        "activation_bytes": "Activations (sum)",
        "peak_activation_bytes": "Peak activations",
    }

    def __init__(self, before, after):
        self.before = before
        self.after = after

    @property
    def macs_reduction(self):
        """`before.macs / after.macs`, or `None` when `after.macs` is 0."""
        return _ratio(self.before.macs, self.after.macs)

    @property
    def params_reduction(self):
        """`before.params / after.params`, or `None` when it is 0."""
        return _ratio(self.before.params, self.after.params)

    def rows(self):
        """Matched layer rows.

        Returns:
            List of dicts with keys `path`, `class_name`, `macs_before`,
            `macs_after`, `macs_ratio` (after / before), `params_before`,
            `params_after`, `params_ratio`; missing sides are `None`.
        """
        after_by_path = {row.path: row for row in self.after.layers}
        matched = set()
        rows = []
        for old in self.before.layers:
            new = after_by_path.get(old.path)
            if new is not None:
                matched.add(new.path)
            rows.append(self._row(old, new))
        for new in self.after.layers:
            if new.path not in matched:
                rows.append(self._row(None, new))
        return rows

    @staticmethod
    def _row(old, new):
        def get(row, attr):
            return None if row is None else getattr(row, attr)

        ref = old if old is not None else new
        row = {"path": ref.path, "class_name": ref.class_name}
        for attr in ("macs", "params"):
            before, after = get(old, attr), get(new, attr)
            row[f"{attr}_before"] = before
            row[f"{attr}_after"] = after
            both = before is not None and after is not None
            row[f"{attr}_ratio"] = _ratio(after, before) if both else None
        return row

    def totals(self):
        """Model totals before and after, with after / before ratios.

        Returns:
            Dict from total name (`macs`, `other_ops`, `params`,
            `trainable_params`, `activation_bytes`,
            `peak_activation_bytes`) to a dict with `before`, `after` and
            `ratio`.
        """
        out = {}
        for name in self._LABELS:
            before = getattr(self.before, name)
            after = getattr(self.after, name)
            out[name] = {
                "before": before,
                "after": after,
                "ratio": _ratio(after, before) if after is not None else None,
            }
        return out

    def table(self):
        """Returns a text table of per-layer and total before/after costs.

        Returns:
            A multi-line string.
        """
        fc, fr = formatting.format_count, formatting.format_ratio
        headers = [
            "Layer",
            "Type",
            "MACs before",
            "MACs after",
            "Ratio",
            "Params before",
            "Params after",
            "Ratio",
        ]
        rows = [
            [
                r["path"],
                r["class_name"],
                fc(r["macs_before"]),
                fc(r["macs_after"]),
                fr(r["macs_ratio"]),
                fc(r["params_before"]),
                fc(r["params_after"]),
                fr(r["params_ratio"]),
            ]
            for r in self.rows()
        ]
        return formatting.render_table(
            f'Comparison "{self.before.name}" -> "{self.after.name}"',
            headers,
            rows,
            right_aligned=set(range(2, 8)),
            footer=self._footer(),
        )

    def _footer(self):
        lines = []
        for name, total in self.totals().items():
            fmt = formatting.format_count
            if name.endswith("bytes"):
                fmt = formatting.format_bytes
            lines.append(
                f"{self._LABELS[name]}: {fmt(total['before'])} -> "
                f"{fmt(total['after'])} "
                f"({formatting.format_ratio(total['ratio'])})"
            )
        lines.append(
            "Reduction factors (before / after): MACs "
            f"{formatting.format_ratio(self.macs_reduction)}, params "
            f"{formatting.format_ratio(self.params_reduction)}"
        )
        return lines

    def to_dict(self):
        """Returns the comparison as a JSON-compatible dict.

        Returns:
            Dict with `before` and `after` (profile dicts), `rows`,
            `totals`, `macs_reduction` and `params_reduction`.
        """
        return {
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "rows": self.rows(),
            "totals": self.totals(),
            "macs_reduction": self.macs_reduction,
            "params_reduction": self.params_reduction,
        }

    def get_config(self):
        """Returns the constructor arguments as a JSON-compatible dict."""
        return {
            "before": self.before.get_config(),
            "after": self.after.get_config(),
        }

    @classmethod
    def from_config(cls, config):
        """Creates a comparison from `get_config()` or `to_dict()` output.

        Args:
            config: Dict with `before` and `after` profile dicts.

        Returns:
            A `ProfileComparison`.
        """
        return cls(
            ModelProfile.from_config(config["before"]),
            ModelProfile.from_config(config["after"]),
        )


def compare_profiles(before, after, batch_size=1):
    """Compares the costs of two models, layer by layer and in total.

    Args:
        before: The original `keras.Model`, or its `ModelProfile`.
        after: The compressed `keras.Model`, or its `ModelProfile`.
        batch_size: Batch size used when a model has to be profiled.
            Defaults to `1`.

    Returns:
        A `ProfileComparison`.

    Raises:
        TypeError: If `before` or `after` is neither a `keras.Model` nor a
            `ModelProfile`.

    Example:

    ```python
    cmp = tfc.compare_profiles(model, tfc.slim(model, masks))
    print(cmp.table())
    ```
    """
    return ProfileComparison(
        _as_profile(before, "before", batch_size),
        _as_profile(after, "after", batch_size),
    )
