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

    def variable(self, name, initial=0.0, shape=None):
        """The float32 variable `name`, created on first use (of `shape`,
        a scalar when `None`).

        Raises:
            ValueError: if `name` exists with another `shape` than the one
                asked for (the penalty was bound to another model).
        """
        existing = self.variables.get(name)
        if existing is not None and shape is None:
            return existing
        shape = tuple(int(n) for n in shape or ())
        if existing is not None and tuple(existing.shape) != shape:
            raise ValueError(
                f"The state `{name}` of penalty '{self._layer.name}' has "
                f"shape {tuple(existing.shape)}, asked for {shape}: the "
                "penalty was used with another model. Use one penalty per "
                "model."
            )
        if name not in self.variables:
            self.variables[name] = self._layer.add_weight(
                shape=tuple(shape),
                initializer=keras.initializers.Constant(initial),
                trainable=False,
                name=name,
                dtype="float32",
            )
            self.layout.append([name, list(shape), float(initial)])
        return self.variables[name]

    def restore(self, layout):
        """Recreates the variables of a saved `layout`, in its order; the
        per-channel ones become attributes of the layer again."""
        for name, shape, *initial in layout or ():
            # The initial value, for a penalty rebuilt without its weights.
            start = initial[0] if initial else float(name in ATTRIBUTES)
            variable = self.variable(name, start, shape)
            if name in ATTRIBUTES:
                setattr(self._layer, name, variable)


def check_saved_count(layer, store):
    """Refuses, with the way out, a weights file that holds more variables
    for the penalty `layer` than it has.

    A `.weights.h5` file keeps variables by position, not by name, so the
    state a controller added while the file's run trained cannot be
    recreated from it (a `.keras` file keeps the layout in the config).

    Raises:
        ValueError: if `store` holds more variables than `layer` has.
    """
    saved, own = len(store.keys()), len(layer.variables)
    refused = getattr(layer, "_refused_load", None)
    if saved == 0 and refused:
        # Keras tries again at the penalty's other path, with nothing
        # there, and reports the last error: this one again.
        raise ValueError(refused)
    if saved <= own:
        layer._refused_load = None
        return
    layer._refused_load = (
        f"The weights file holds {saved} variables for penalty "
        f"'{layer.name}', which has {own}: a controller (`BudgetController`, "
        "`SparsityController`, `IterativePruning`) added its state to the "
        "penalty in the run that saved it. Attach a controller of the same "
        "kind first, `controller.set_model(trainer)`, then call "
        "`trainer.load_weights(path)`; or checkpoint the whole trainer as "
        "a `.keras` file, which records the penalty's state."
    )
    raise ValueError(layer._refused_load)
