"""The variables a penalty gains while it trains, kept so it loads back.

Controllers add variables to a penalty once training starts: per-channel
multipliers (`channel_scales`, `channel_weights`) and named states. A
saved model holds their values, so a penalty rebuilt from its config must
have the same variables, in the same order, before the values are read:
`PenaltyState` records each one's name and shape in creation order (the
`layout` that goes into the config) and recreates them from it.
"""

import keras

#: Variables that are attributes of the penalty, not named states.
ATTRIBUTES = ("channel_scales", "channel_weights")


class PenaltyState:
    """The added variables of one penalty layer, in creation order.

    Args:
        layer: the penalty (a `keras.layers.Layer`) that owns them.

    Example:

    ```python
    state = PenaltyState(penalty)
    reference = state.variable("reference_loss", initial=0.0)
    state.layout  # [["reference_loss", []]]
    ```
    """

    def __init__(self, layer):
        # Not tracked as an attribute of the layer: `add_weight` tracks
        # each variable once.
        self._layer = layer
        self.variables = {}
        self.layout = []

    def variable(self, name, initial=0.0, shape=()):
        """The float32 variable `name`, created on first use."""
        if name not in self.variables:
            self.variables[name] = self._layer.add_weight(
                shape=tuple(shape),
                initializer=keras.initializers.Constant(initial),
                trainable=False,
                name=name,
                dtype="float32",
            )
            self.layout.append([name, [int(n) for n in shape]])
        return self.variables[name]

    def restore(self, layout):
        """Recreates the variables of a saved `layout`, in its order; the
        per-channel ones become attributes of the layer again."""
        for name, shape in layout or ():
            variable = self.variable(name, shape=shape)
            if name in ATTRIBUTES:
                setattr(self._layer, name, variable)
