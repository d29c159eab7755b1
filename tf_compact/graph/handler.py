"""Layer handlers: the only place where knowledge of layer classes lives.

A handler tells the channel graph how one layer call relates the channel
spaces of its inputs to those of its outputs, which of the layer's weights
hold which channels, and how the layer's config changes when channels are
removed. The graph itself knows nothing about any layer.

A *channel space* is a 1-D integer array with one entry per position of a
tensor's last axis; the entries are ids of channel *elements*. Two positions
holding the same element id (or ids joined with `NodeContext.union`) are the
same channel: they are kept or removed together.
"""

import numpy as np

from tf_compact.graph.errors import GraphError

ROLES = ("producer", "consumer", "norm", "stat")


def weight_keys(layer):
    """The key of each of `layer.weights`, in order.

    A weight's key is its name (`"kernel"`) when no other weight of the
    layer has that name; otherwise its path inside the layer, as short as
    makes it unique (`"query/kernel"` and `"key/kernel"` in a
    `MultiHeadAttention`). Handlers bind weights by these keys.

    Example:

    ```python
    weight_keys(mha)  # ["query/kernel", "query/bias", "key/kernel", ...]
    ```
    """
    variables = list(getattr(layer, "weights", ()))
    names = [v.name for v in variables]
    keys = []
    for v in variables:
        if names.count(v.name) == 1:
            keys.append(v.name)
            continue
        parts = v.path.split("/")
        key = v.name
        for depth in range(2, len(parts) + 1):
            key = "/".join(parts[-depth:])
            clash = [
                w
                for w in variables
                if w is not v and w.path.endswith("/" + key)
            ]
            if not clash:
                break
        keys.append(key)
    return keys


def find_weight(layer, key):
    """Returns the weight of `layer` whose key (`weight_keys`) is `key`."""
    for var, k in zip(layer.weights, weight_keys(layer)):
        if k == key:
            return var
    return None


class LayerHandler:
    """Base class of the handlers that describe one layer class.

    Subclasses override `propagate` (required) and `slim_config` (when the
    config stores a channel count). Register them with
    `tfc.register_handler(LayerClass, handler)`.

    Example:

    ```python
    class ScaleHandler(tfc.graph.LayerHandler):
        def propagate(self, ctx):
            space = ctx.inputs[0]
            ctx.bind("scale", -1, space, "norm")
            return [space]

        def slim_config(self, layer, config, in_keep, out_keep):
            return {**config, "units": int(out_keep[0].sum())}

    tfc.register_handler(MyScale, ScaleHandler())
    ```
    """

    def propagate(self, ctx):
        """Relates input and output channel spaces of one layer call.

        Args:
            ctx: A `NodeContext` for the call.

        Returns:
            A list with one channel space per output tensor.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement `propagate(ctx)`."
        )

    def slim_config(self, layer, config, in_keep, out_keep):
        """Returns the layer config with channels removed.

        Args:
            layer: The original layer.
            config: A copy of `layer.get_config()`, free to edit.
            in_keep: One boolean array per input tensor: kept positions of
                its last axis.
            out_keep: One boolean array per output tensor.

        Returns:
            The edited config. Defaults to `config` unchanged.
        """
        del layer, in_keep, out_keep
        return config

    def slim_dims(self, layer, config, dims):
        """Returns the layer config with inner sizes set (see `set_dims`).

        Called after `slim_config` when a space named with
        `NodeContext.set_dims` lost channels.

        Args:
            layer: The original layer.
            config: The config so far, free to edit.
            dims: Dict `{dim name: boolean array}`, the kept flags of the
                space of each name given to `set_dims`.

        Returns:
            The edited config. Defaults to `config` unchanged.
        """
        del layer, dims
        return config

    def slim_weights(self, layer, new_layer, values):
        """Adjusts the kept weights before they are copied into `new_layer`.

        Most layers compute the same function from the kept slices of
        their weights. A layer whose computation depends on a removed size
        (attention scales its scores by `1 / sqrt(key_dim)`) rescales
        weights here so that the rebuilt layer computes what the original
        computes with the removed channels zeroed.

        Args:
            layer: The original layer.
            new_layer: The rebuilt, smaller layer.
            values: Dict `{weight key: numpy array}`: the kept slices of
                every weight, keyed as in `weight_keys(layer)`.

        Returns:
            The dict of values to copy. Defaults to `values` unchanged.
        """
        del layer, new_layer
        return values

    def get_config(self):
        """Returns the constructor arguments of the handler."""
        return {}

    @classmethod
    def from_config(cls, config):
        """Creates a handler from `get_config()` output."""
        return cls(**config)


class Binding:
    """One axis of one weight that is indexed by a channel space."""

    __slots__ = ("node_name", "layer", "weight", "axis", "space", "role")

    def __init__(self, node_name, layer, weight, axis, space, role):
        self.node_name = node_name
        self.layer = layer
        self.weight = weight
        self.axis = axis
        self.space = space
        self.role = role


class NodeContext:
    """What a handler sees of one layer call while the graph is built.

    Attributes:
        layer: The layer (or Keras operation) being called.
        name: Its name in the graph.
        inputs: One channel space (1-D int array) per input tensor.
        input_shapes: Shapes of the input tensors (batch axis first).
        output_shapes: Shapes of the output tensors.
        input_names: The `call` parameter each input was passed as
            (`"query"`, `"value"`, ...), `None` where it cannot be told.
        args: The call's positional arguments (tensors and constants).

    Example:

    ```python
    class ProjectionHandler(tfc.graph.LayerHandler):
        def propagate(self, ctx):  # ctx: a NodeContext
            out = ctx.new_space(ctx.output_shapes[0][-1])
            ctx.bind("kernel", -2, ctx.inputs[0], "consumer")
            ctx.bind("kernel", -1, out, "producer")
            return [out]
    ```
    """

    def __init__(self, builder, flat_node, inputs):
        self._builder = builder
        self.layer = flat_node.layer
        self.name = flat_node.name
        self.inputs = inputs
        self.input_shapes = flat_node.input_shapes
        self.output_shapes = flat_node.output_shapes
        self.args = flat_node.node.arguments.args
        self.input_names = list(flat_node.input_names) or [None] * len(inputs)
        self.bindings = []
        self.macs = []
        self.dims = {}

    def new_space(self, size, part=None):
        """Creates `size` new prunable channels produced by this layer.

        Args:
            size: Number of channels.
            part: Optional name of an inner dimension of the layer that the
                channels index (`"heads"`): the group they start is then
                named `"<layer>.<part>"`. Defaults to `None` (named after
                the layer).
        """
        origin = self.name if part is None else f"{self.name}.{part}"
        return self._builder.new_elements(int(size), origin, fixed=False)

    def set_dims(self, **spaces):
        """Names inner sizes of the layer that follow channel spaces.

        The cost model counts some layers from sizes that are not the
        channels of any tensor (the heads, key and value sizes of an
        attention layer). Each keyword names such a size and gives the
        channel space it counts: after pruning, the size is the number of
        kept channels of that space, and the layer's cost function
        (`tf_compact.profile`) receives the sizes as its `dims` keyword.
        """
        for key, space in spaces.items():
            self.dims[key] = np.asarray(space, dtype=np.int64)

    def fixed_space(self, size):
        """Creates `size` new channels that are never pruned."""
        return self._builder.new_elements(int(size), self.name, fixed=True)

    def union(self, a, b):
        """Couples two spaces position by position (same length)."""
        if len(a) != len(b):
            raise GraphError(
                f"Layer '{self.name}' couples channel spaces of different "
                f"sizes: {len(a)} and {len(b)}."
            )
        self._builder.union(a, b)

    def fix(self, space):
        """Marks every channel in `space` as not prunable."""
        self._builder.fix(space, by=self.name)

    def weight(self, name):
        """Returns the layer's weight with key `name` (a `keras.Variable`).

        The key is the weight's name, or its path inside the layer where
        names repeat (see `weight_keys`).
        """
        var = find_weight(self.layer, name)
        if var is not None:
            return var
        raise GraphError(
            f"Layer '{self.name}' ({type(self.layer).__name__}) has no "
            f"weight named '{name}'. Weights: {weight_keys(self.layer)}."
        )

    def bind(self, weight, axis, space, role):
        """Declares that `axis` of weight `weight` is indexed by `space`.

        Args:
            weight: The weight's key (`weight_keys`), e.g. `"kernel"`, or
                `"query/kernel"` inside an attention layer.
            axis: The weight axis (negative counts from the end).
            space: The channel space along that axis.
            role: One of `"producer"`, `"consumer"`, `"norm"`, `"stat"`.
        """
        if role not in ROLES:
            raise ValueError(
                f"Invalid value for argument `role`. Expected one of "
                f"{ROLES}. Received: role={role!r}"
            )
        var = self.weight(weight)
        axis = axis % len(var.shape)
        if var.shape[axis] != len(space):
            raise GraphError(
                f"Layer '{self.name}': axis {axis} of weight '{weight}' has "
                f"{var.shape[axis]} entries but the channel space bound to "
                f"it has {len(space)}."
            )
        self.bindings.append(
            Binding(self.name, self.layer, weight, axis, space, role)
        )

    def count_macs(self, weight, positions):
        """Counts `positions` multiply-accumulates per entry of `weight`.

        Only for layers without a cost function in `tf_compact.profile`,
        which is the cost model of everything else: the slimming cost
        estimate (`tfc.estimate_slim_cost`) uses these counts, with the
        kept sizes of the weight's bound axes, when the profiler cannot
        cost the layer. Prefer `tf_compact.profile.register_macs`, which
        also makes `tfc.profile` count the layer.
        """
        self.macs.append((weight, int(positions)))
