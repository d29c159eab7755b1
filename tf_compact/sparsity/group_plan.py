"""Precomputed index plan that reduces model weights to channels.

The sparsity unit is one *channel* of a `ChannelGraph` group: every weight
slice coupled to that channel (producer kernel and bias, BN gamma and beta,
optionally the consumers' input slices) is kept or removed together, so its
norm is one term of the group lasso. A `GroupPlan` turns the members of the
graph's groups into a flat list of `(variable, axis, segment_ids)` entries,
computed once. Inside the train step, the per-channel reductions then cost a
few ops per variable plus one `segment_sum`, instead of a Python loop over
every channel.
"""

import numpy as np
from keras import ops

#: Member roles that a group's norm covers by default: the producer's
#: kernel and bias and the normalization that follows it (BN gamma/beta).
PRODUCER_ROLES = ("producer", "norm")
#: Extra role covering the consumers' input slices of the group's channels.
CONSUMER_ROLES = ("consumer",)


class PlanEntry:
    """One variable viewed along one axis.

    Args:
        variable: The `keras.Variable` holding the weights.
        axis: The axis of `variable` that indexes channels.
        segments: int32 array with one entry per index along `axis`: the
            global channel that owns that index, or `num_channels` for
            none.
        role: The member role (`"producer"`, `"norm"`, ...).
    """

    def __init__(self, variable, axis, segments, role):
        self.variable = variable
        self.axis = int(axis) % len(variable.shape)
        self.segments = np.asarray(segments, dtype="int32")
        self.role = role

    def reduce_axes(self):
        """Returns the axes to sum over to get one value per channel."""
        rank = len(self.variable.shape)
        return tuple(i for i in range(rank) if i != self.axis)

    def broadcast_shape(self):
        """Returns the shape that broadcasts a per-channel vector."""
        shape = [1] * len(self.variable.shape)
        shape[self.axis] = int(self.variable.shape[self.axis])
        return tuple(shape)


class GroupPlan:
    """Index structure mapping model variables onto the graph's channels.

    Channels are numbered globally: group `i`'s channel `j` is number
    `offsets[i] + j`.

    Args:
        entries: List of `PlanEntry`.
        group_names: Names of the graph's groups, in order.
        group_channels: Number of channels of each group.

    Example:

    ```python
    plan = GroupPlan.from_graph(tfc.ChannelGraph(model))
    norms = plan.reduce("l2")  # one norm per channel
    masks = plan.split(norms.numpy() > 1e-3)  # {group name: bool array}
    ```
    """

    def __init__(self, entries, group_names, group_channels):
        self.entries = list(entries)
        self.group_names = list(group_names)
        self.group_channels = np.asarray(group_channels, dtype="int64")
        self.offsets = np.concatenate(
            [[0], np.cumsum(self.group_channels)]
        ).astype("int64")
        self.num_channels = int(self.offsets[-1])
        self.channel_group = np.repeat(
            np.arange(len(self.group_names)), self.group_channels
        )
        self._segments = (
            np.concatenate([e.segments for e in self.entries])
            if self.entries
            else np.zeros((0,), dtype="int32")
        )
        self.channel_sizes = self._count_parameters()
        self._by_variable = _entries_by_variable(self.entries)

    @classmethod
    def from_graph(cls, graph, roles=PRODUCER_ROLES, weight_names=None):
        """Builds a plan from a `ChannelGraph`.

        Args:
            graph: A `tfc.ChannelGraph`.
            roles: Member roles to include. Defaults to `PRODUCER_ROLES`.
            weight_names: Optional weight names to keep (e.g. `("gamma",)`).
                Defaults to `None`, which keeps every weight of `roles`.

        Returns:
            A `GroupPlan`.
        """
        groups = list(graph.groups)
        names = [g.name for g in groups]
        sizes = [int(g.size) for g in groups]
        total = int(np.sum(sizes))
        offset = 0
        slots = {}
        for group in groups:
            for ref in graph.weight_refs(group, roles=tuple(roles)):
                if weight_names and _weight_name(ref) not in weight_names:
                    continue
                variable = ref.variable
                axis = int(ref.axis) % len(variable.shape)
                key = (id(variable), axis, _role_of(ref))
                if key not in slots:
                    length = int(variable.shape[axis])
                    slots[key] = PlanEntry(
                        variable,
                        axis,
                        np.full((length,), total, dtype="int32"),
                        _role_of(ref),
                    )
                positions = np.asarray(ref.positions, dtype="int64")
                channels = np.asarray(ref.channels, dtype="int64")
                slots[key].segments[positions] = offset + channels
            offset += int(group.size)
        return cls(list(slots.values()), names, sizes)

    def _count_parameters(self):
        sizes = np.zeros((self.num_channels + 1,), dtype="int64")
        for entry in self.entries:
            shape = entry.variable.shape
            per_channel = int(np.prod(shape)) // int(shape[entry.axis])
            np.add.at(sizes, entry.segments, per_channel)
        return sizes[: self.num_channels]

    def per_channel(self, entry, reduction):
        """Returns one float32 value per channel of `entry` (a tensor)."""
        value = ops.cast(entry.variable, "float32")
        value = ops.square(value) if reduction == "l2" else ops.abs(value)
        axes = entry.reduce_axes()
        return ops.sum(value, axis=axes) if axes else value

    def reduce(self, reduction="l2", epsilon=1e-12):
        """Reduces the weights to one value per channel.

        Args:
            reduction: `"l2"` for the L2 norm of each channel's weights,
                `"l1"` for the sum of their absolute values. Defaults to
                `"l2"`.
            epsilon: Floor under the squared norm before the square root,
                so the gradient stays finite at zero. Defaults to `1e-12`.

        Returns:
            A float32 tensor of shape `(num_channels,)`.
        """
        if not self.entries:
            return ops.zeros((self.num_channels,), dtype="float32")
        parts = [self.per_channel(e, reduction) for e in self.entries]
        totals = ops.segment_sum(
            ops.concatenate(parts, axis=0),
            ops.convert_to_tensor(self._segments),
            num_segments=self.num_channels + 1,
        )[: self.num_channels]
        if reduction == "l2":
            return ops.sqrt(ops.maximum(totals, epsilon))
        return totals

    def scale_channels(self, factors):
        """Multiplies every weight of channel `c` by `factors[c]`, in place.

        Args:
            factors: float tensor of shape `(num_channels,)`.
        """
        factors = ops.concatenate(
            [ops.cast(factors, "float32"), ops.ones((1,), "float32")], axis=0
        )
        for variable, entries in self._by_variable:
            scale = None
            for entry in entries:
                picked = ops.take(factors, entry.segments, axis=0)
                picked = ops.reshape(picked, entry.broadcast_shape())
                scale = picked if scale is None else scale * picked
            scaled = ops.cast(variable, "float32") * scale
            variable.assign(ops.cast(scaled, variable.dtype))

    def split(self, values):
        """Splits a per-channel array into `{group name: array}`."""
        values = np.asarray(values)
        return {
            name: values[self.offsets[i] : self.offsets[i + 1]]
            for i, name in enumerate(self.group_names)
        }


def _entries_by_variable(entries):
    order = []
    found = {}
    for entry in entries:
        key = id(entry.variable)
        if key not in found:
            found[key] = (entry.variable, [])
            order.append(key)
        found[key][1].append(entry)
    return [found[k] for k in order]


def _role_of(ref):
    return getattr(ref, "role", "producer")


def _weight_name(ref):
    name = getattr(ref, "weight", None)
    if not isinstance(name, str):
        name = ref.variable.name
    return name.rsplit("/", 1)[-1]
