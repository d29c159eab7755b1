"""Channel groups and their members: the public contract of the graph."""

import numpy as np


class GroupMember:
    """One weight axis (or part of one) that holds a group's channels.

    Along `axis` of weight `weight` of layer `layer`, the entries at
    `positions` belong to the group; entry `positions[i]` holds group
    channel `channels[i]`. A channel can own several positions (the rows of
    a Dense kernel after `Flatten`, the outputs of a depthwise conv with
    `depth_multiplier > 1`).

    Args:
        layer: Name of the layer in the graph.
        weight: Name of the weight, e.g. `"kernel"`, `"gamma"`.
        axis: Non-negative axis of the weight.
        role: `"producer"` (creates the channels: kernel columns, bias),
            `"consumer"` (reads them: kernel input slices), `"norm"`
            (trainable per-channel weights of layers passing the channels
            through: γ, β, PReLU α, layer scales, depthwise kernels) or
            `"stat"` (non-trainable statistics: moving mean and variance).
        positions: Int array of positions along `axis`.
        channels: Int array, the group channel of each position.

    Example:

    ```python
    for m in graph.group("conv2d").members:
        print(m.layer, m.weight, m.axis, m.role, m.positions)
    ```
    """

    def __init__(self, layer, weight, axis, role, positions, channels):
        self.layer = layer
        self.weight = weight
        self.axis = int(axis)
        self.role = role
        self.positions = np.asarray(positions, dtype=np.int64)
        self.channels = np.asarray(channels, dtype=np.int64)

    def get_config(self):
        """Returns the member as a dict of JSON values."""
        return {
            "layer": self.layer,
            "weight": self.weight,
            "axis": self.axis,
            "role": self.role,
            "positions": self.positions.tolist(),
            "channels": self.channels.tolist(),
        }

    @classmethod
    def from_config(cls, config):
        """Creates a member from `get_config()` output."""
        return cls(**config)

    def __repr__(self):
        return (
            f"GroupMember({self.layer}.{self.weight}, axis={self.axis}, "
            f"role={self.role}, positions={len(self.positions)})"
        )


class ChannelGroup:
    """A set of channels that must be kept or removed together.

    Channel `c` of a group is one channel of every coupled tensor: removing
    it removes the kernel column of every producer, the per-channel weights
    of every norm layer and the input slice of every consumer listed in
    `members`.

    Args:
        name: Stable name, after the first layer that produces the channels.
        size: Number of channels (the length of the group's mask).
        members: `GroupMember`s of the group.

    Example:

    ```python
    group = graph.groups[0]
    mask = np.ones(group.size, bool)
    mask[: group.size // 2] = False
    small = tfc.slim(model, {group.name: mask})
    ```
    """

    def __init__(self, name, size, members=()):
        self.name = name
        self.size = int(size)
        self.members = tuple(members)

    def layers(self, role=None):
        """Names of the member layers (with `role`, when given), in order."""
        names = []
        for m in self.members:
            if (role is None or m.role == role) and m.layer not in names:
                names.append(m.layer)
        return names

    def get_config(self):
        """Returns the group as a dict of JSON values."""
        return {
            "name": self.name,
            "size": self.size,
            "members": [m.get_config() for m in self.members],
        }

    @classmethod
    def from_config(cls, config):
        """Creates a group from `get_config()` output."""
        members = [GroupMember.from_config(m) for m in config["members"]]
        return cls(config["name"], config["size"], members)

    def __repr__(self):
        return (
            f"ChannelGroup(name={self.name!r}, size={self.size}, "
            f"producers={self.layers('producer')})"
        )


class WeightRef:
    """A group member bound to the variable of the graph's model.

    Layout: `keras.ops.take(variable, positions, axis)` holds the group's
    weights along `axis`, entry `i` belonging to channel `channels[i]`.
    When every channel owns the same number `r` of positions,
    `channel_index` is a `(size, r)` array: channel c's weights are
    `take(variable, channel_index[c], axis)`.

    Attributes:
        variable: The `keras.Variable`.
        layer, weight, axis, role, positions, channels: As in `GroupMember`.
        size: Number of channels of the group.

    Example:

    ```python
    graph = tfc.ChannelGraph(model)
    for ref in graph.weight_refs(graph.groups[0]):
        print(ref.layer, ref.weight, ref.variable.shape, ref.axis)
    ```
    """

    def __init__(self, variable, member, size):
        self.variable = variable
        self.layer = member.layer
        self.weight = member.weight
        self.axis = member.axis
        self.role = member.role
        self.positions = member.positions
        self.channels = member.channels
        self.size = size

    @property
    def channel_index(self):
        """`(size, r)` int array of positions per channel.

        Raises:
            ValueError: If channels own different numbers of positions, or
                the member covers only part of the group's channels.
        """
        counts = np.bincount(self.channels, minlength=self.size)
        if counts.min() != counts.max() or counts.min() == 0:
            raise ValueError(
                f"Weight '{self.layer}.{self.weight}' does not hold the same "
                "number of positions for every channel of its group; use "
                "`positions` and `channels` instead."
            )
        order = np.argsort(self.channels, kind="stable")
        return self.positions[order].reshape(self.size, counts[0])

    def channel_sq_norms(self):
        """Sum of squared weights per group channel, as a `(size,)` tensor.

        Built from `keras.ops` (take, moveaxis, reshape, segment_sum), so it
        can be used inside a training step.
        """
        from keras import ops

        w = ops.take(self.variable, self.positions, axis=self.axis)
        w = ops.moveaxis(w, self.axis, 0)
        w = ops.reshape(ops.square(w), (len(self.positions), -1))
        return ops.segment_sum(
            ops.sum(w, axis=1), self.channels, num_segments=self.size
        )
