"""Costs of one layer call."""

import dataclasses


def _to_tuple(value):
    if isinstance(value, list | tuple):
        return tuple(_to_tuple(v) for v in value)
    return value


def _to_list(value):
    if isinstance(value, list | tuple):
        return [_to_list(v) for v in value]
    return value


@dataclasses.dataclass
class LayerProfile:
    """Costs of one call of a layer, as measured by `tf_compact.profile`.

    A layer called several times has one `LayerProfile` per call; only the
    first call carries the layer's parameters, so that the rows sum to the
    model's totals.

    Args:
        name: The layer's name.
        class_name: The layer's class name, e.g. `"Conv2D"`.
        output_shape: Output shape with the batch dimension set to the
            profiled batch size; a tuple of shapes for several outputs.
        macs: Multiply-accumulates of convolutions and dense products.
        params: Number of weights (trainable plus non-trainable).
        trainable_params: Number of trainable weights.
        activation_bytes: Bytes of the call's outputs.
        path: Position in the model, nested model names joined by "/";
            a repeated call ends in ":<call index>".
        other_ops: Element-wise operations not counted in `macs`
            (normalization, activations, pooling, merges, bias adds).
            Defaults to `0`.
        call_index: 0 for a layer's first call, 1 for its second, and so on.
            Defaults to `0`.

    Example:

    ```python
    row = tfc.profile(model).layers[0]
    print(row.path, row.macs, row.params)
    ```
    """

    name: str
    class_name: str
    output_shape: tuple
    macs: int
    params: int
    trainable_params: int
    activation_bytes: int
    path: str
    other_ops: int = 0
    call_index: int = 0

    def __post_init__(self):
        self.output_shape = _to_tuple(self.output_shape)

    @property
    def non_trainable_params(self):
        """Number of non-trainable weights (e.g. BatchNorm statistics)."""
        return self.params - self.trainable_params

    def get_config(self):
        """Returns the row as a JSON-compatible dict.

        Returns:
            Dict of the constructor arguments; shapes become lists.
        """
        config = dataclasses.asdict(self)
        config["output_shape"] = _to_list(self.output_shape)
        return config

    @classmethod
    def from_config(cls, config):
        """Creates a `LayerProfile` from `get_config()` output.

        Args:
            config: Dict returned by `get_config()`.

        Returns:
            A `LayerProfile`.
        """
        return cls(**config)
