"""Costs of a whole model: per-layer rows and totals."""

from tf_compact.profile import formatting
from tf_compact.profile.layer_profile import LayerProfile


class ModelProfile:
    """MACs, parameters and activation memory of a model, per layer call.

    Built by `tf_compact.profile(model)`; see the `tf_compact.profile`
    package docstring for the counting conventions.

    Args:
        name: The model's name.
        layers: List of `LayerProfile`, one per layer call, in execution
            order.
        trainable_params: Trainable weights of the model (each shared weight
            counted once), equal to Keras's count.
        non_trainable_params: Non-trainable weights of the model.
        peak_activation_bytes: Largest total size of the tensors alive at
            once when the layers run one after another in `layers` order
            (model inputs included), or `None` when unknown.
        batch_size: Batch size the shapes and counts refer to. Defaults to
            `1`.
        unknown_layers: Paths of the layer calls whose cost could not be
            counted (no cost function, shapes not fully known, a failing
            cost function); they count 0 MACs. Defaults to `None` (no such
            layer).
        notes: Warnings emitted while profiling. Defaults to `None`.

    Example:

    ```python
    prof = tfc.profile(keras.applications.MobileNetV2(weights=None))
    print(prof.table())
    print(f"{prof.macs / 1e6:.0f}M MACs, {prof.params} params")
    ```
    """

    def __init__(
        self,
        name,
        layers,
        trainable_params,
        non_trainable_params,
        peak_activation_bytes,
        batch_size=1,
        unknown_layers=None,
        notes=None,
    ):
        self.name = name
        self.layers = list(layers)
        self.trainable_params = int(trainable_params)
        self.non_trainable_params = int(non_trainable_params)
        self.peak_activation_bytes = peak_activation_bytes
        self.batch_size = batch_size
        self.unknown_layers = list(unknown_layers or [])
        self.notes = list(notes or [])

    @property
    def macs(self):
        """Total multiply-accumulates of convolutions and dense products."""
        return sum(row.macs for row in self.layers)

    @property
    def other_ops(self):
        """Total element-wise operations not counted in `macs`."""
        return sum(row.other_ops for row in self.layers)

    @property
    def flops(self):
        """Floating-point operations: `2 * macs + other_ops`."""
        return 2 * self.macs + self.other_ops

    @property
    def params(self):
        """Total weights, equal to `model.count_params()`."""
        return self.trainable_params + self.non_trainable_params

    @property
    def activation_bytes(self):
        """Sum of the output sizes of all layer calls, in bytes."""
        return sum(row.activation_bytes for row in self.layers)

    def layer(self, path):
        """Returns the row whose `path` (or `name`, if unique) matches.

        Args:
            path: A row's `path`, or a layer name.

        Returns:
            The `LayerProfile`.

        Raises:
            KeyError: If no row, or several rows by name, match.
        """
        for row in self.layers:
            if row.path == path:
                return row
        named = [row for row in self.layers if row.name == path]
        if len(named) == 1:
            return named[0]
        raise KeyError(
            f"No single layer row matches '{path}' in profile of "
            f"'{self.name}'. Known paths: {[r.path for r in self.layers]}"
        )

    def table(self):
        """Returns a text table of the layer calls and the totals.

        Returns:
            A multi-line string in the style of `model.summary()`.
        """
        headers = [
            "Layer",
            "Type",
            "Output shape",
            "MACs",
            "Params",
            "Activations",
        ]
        rows = [
            [
                row.path,
                row.class_name,
                formatting.format_shape(row.output_shape),
                formatting.format_count(row.macs),
                formatting.format_count(row.params),
                formatting.format_bytes(row.activation_bytes),
            ]
            for row in self.layers
        ]
        return formatting.render_table(
            f'Profile of "{self.name}" (batch size {self.batch_size})',
            headers,
            rows,
            right_aligned={3, 4, 5},
            footer=self._footer(),
        )

    def _footer(self):
        fc, fb = formatting.format_count, formatting.format_bytes
        lines = [
            f"Total MACs: {fc(self.macs)} ({self.macs:,})",
            f"Other ops: {fc(self.other_ops)} ({self.other_ops:,})",
            f"Total params: {fc(self.params)} ({self.params:,})",
            f"Trainable params: {fc(self.trainable_params)} "
            f"({self.trainable_params:,})",
            f"Non-trainable params: {fc(self.non_trainable_params)} "
            f"({self.non_trainable_params:,})",
            f"Activations (sum of outputs): {fb(self.activation_bytes)}",
            f"Peak activations: {fb(self.peak_activation_bytes)}",
        ]
        if self.unknown_layers:
            lines.append(
                "Counted as 0 MACs (cost unknown): "
                + ", ".join(self.unknown_layers)
            )
        return lines

    def get_config(self):
        """Returns the profile as a JSON-compatible dict.

        Returns:
            Dict of the constructor arguments (rows as dicts) plus the
            derived totals `macs`, `other_ops`, `params` and
            `activation_bytes`, which `from_config` ignores.
        """
        return {
            "name": self.name,
            "layers": [row.get_config() for row in self.layers],
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "peak_activation_bytes": self.peak_activation_bytes,
            "batch_size": self.batch_size,
            "unknown_layers": list(self.unknown_layers),
            "notes": list(self.notes),
            "macs": self.macs,
            "other_ops": self.other_ops,
            "params": self.params,
            "activation_bytes": self.activation_bytes,
        }

    def to_dict(self):
        """Alias of `get_config()`, for reports."""
        return self.get_config()

    @classmethod
    def from_config(cls, config):
        """Creates a `ModelProfile` from `get_config()` output.

        Args:
            config: Dict returned by `get_config()` or `to_dict()`.

        Returns:
            A `ModelProfile`.
        """
        config = dict(config)
        for derived in ("macs", "other_ops", "params", "activation_bytes"):
            config.pop(derived, None)
        config["layers"] = [
            LayerProfile.from_config(row) for row in config["layers"]
        ]
        return cls(**config)

    from_dict = from_config

    def __repr__(self):
        return (
            f"<ModelProfile name={self.name} macs={self.macs} "
            f"params={self.params} layers={len(self.layers)}>"
        )
