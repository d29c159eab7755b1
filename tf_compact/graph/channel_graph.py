"""ChannelGraph: which channels of a model are coupled."""

import keras
import numpy as np

from tf_compact.graph.channel_group import ChannelGroup
from tf_compact.graph.channel_group import GroupMember
from tf_compact.graph.channel_group import WeightRef
from tf_compact.graph.elements import ElementBuilder
from tf_compact.graph.errors import GraphError
from tf_compact.graph.errors import MaskError
from tf_compact.graph.handler import NodeContext
from tf_compact.graph.handler import find_weight
from tf_compact.graph.registry import get_handler
from tf_compact.graph.walk import flatten_model


class ChannelGraph:
    """The channel dependency graph of a Sequential or Functional model.

    Every tensor's last axis is a *channel space*. Layer handlers say how
    each layer relates the spaces of its inputs and outputs: a convolution
    or Dense creates new channels, a norm or activation passes them on, an
    `Add` or `Multiply` couples its inputs channel by channel, a
    `Concatenate` places its inputs at offsets. Channels of model inputs
    and outputs, and channels a handler marks as fixed, are never pruned.
    Each remaining set of coupled channels is a `ChannelGroup`.

    Nested models are opened up; layer names stay as they are unless two
    layers share one: the inner one is then prefixed with its model's
    name and `_` (and `_1`, `_2`, ... added if that name is taken).

    Args:
        model: A built Sequential or Functional `keras.Model`. It is only
            read, never changed.

    Attributes:
        model: The model.
        groups: List of `ChannelGroup`, in the order their first producer
            appears in the model (stable across runs).

    Raises:
        GraphError: For subclassed models, shared layers and tensors with
            an unknown channel count.
        UnsupportedLayerError: For layers without a registered handler.

    Example:

    ```python
    graph = tfc.ChannelGraph(model)
    print(graph.summary())
    masks = {g.name: np.ones(g.size, bool) for g in graph.groups}
    ```
    """

    def __init__(self, model):
        if not isinstance(model, keras.Model):
            raise TypeError(
                "Invalid value for argument `model`. Expected a keras.Model. "
                f"Received: model={model!r}"
            )
        self.model = model
        self.flat = flatten_model(model)
        self._build()

    def _build(self):
        builder = ElementBuilder()
        self.spaces = {}
        for key, t in zip(self.flat.input_keys, self.flat.input_tensors):
            size = _channels(t.shape, "model input")
            self.spaces[key] = builder.new_elements(size, "input", True)
        self.bindings = []
        self.macs = {}
        self.dims = {}
        for node in self.flat.nodes:
            self._propagate(builder, node)
        for key in self.flat.output_keys:
            builder.fix(self.spaces[key])
        self._num_elements = len(builder.parent)
        self.fixed_layers = tuple(builder.fixed_by)
        self._make_groups(builder)

    def _propagate(self, builder, node):
        handler = get_handler(
            node.layer, (node.input_shapes, node.output_shapes)
        )
        ctx = NodeContext(builder, node, [self.spaces[k] for k in node.inputs])
        outs = handler.propagate(ctx)
        if len(outs) != len(node.outputs):
            raise GraphError(
                f"The handler of layer '{node.name}' returned {len(outs)} "
                f"channel spaces for {len(node.outputs)} outputs."
            )
        for key, space, shape in zip(node.outputs, outs, node.output_shapes):
            space = np.asarray(space, dtype=np.int64)
            if len(space) != _channels(shape, f"output of '{node.name}'"):
                raise GraphError(
                    f"The handler of layer '{node.name}' returned a channel "
                    f"space of size {len(space)} for an output of shape "
                    f"{shape}."
                )
            self.spaces[key] = space
        self.bindings.extend(ctx.bindings)
        self.macs[node.name] = ctx.macs
        if ctx.dims:
            self.dims[node.name] = dict(ctx.dims)

    def _make_groups(self, builder):
        roots = builder.roots()
        fixed = builder.fixed_roots(roots)
        link = {}
        for _, ids in builder.produced:
            rs = np.unique(roots[ids])
            head = _find(link, int(rs[0]))
            for r in rs[1:].tolist():
                other = _find(link, r)
                if other != head:
                    lo, hi = min(head, other), max(head, other)
                    link[hi] = lo
                    head = lo
        comps = {}
        for r in np.unique(roots).tolist():
            comps.setdefault(_find(link, r), []).append(r)
        self._assign_groups(builder, roots, fixed, comps)

    def _assign_groups(self, builder, roots, fixed, comps):
        n = self._num_elements
        comp_group = np.full(n, -1, dtype=np.int64)
        comp_channel = np.zeros(n, dtype=np.int64)
        self.groups = []
        self._by_name = {}
        for head in sorted(comps):
            members = sorted(comps[head])
            if fixed[members].any():
                continue
            comp_group[members] = len(self.groups)
            comp_channel[members] = np.arange(len(members))
            name = self._unique_name(builder.origin[members[0]])
            group = ChannelGroup(name, len(members))
            self.groups.append(group)
            self._by_name[name] = group
        self.element_group = comp_group[roots]
        self.element_channel = comp_channel[roots]
        self._group_elements = [
            np.nonzero(self.element_group == i)[0]
            for i in range(len(self.groups))
        ]
        self._attach_members()

    def _unique_name(self, base):
        name, i = base, 1
        while name in self._by_name:
            name, i = f"{base}_{i}", i + 1
        return name

    def _attach_members(self):
        members = [[] for _ in self.groups]
        for b in self.bindings:
            eg = self.element_group[b.space]
            for g in np.unique(eg[eg >= 0]).tolist():
                pos = np.nonzero(eg == g)[0]
                ch = self.element_channel[b.space[pos]]
                members[g].append(
                    GroupMember(b.node_name, b.weight, b.axis, b.role, pos, ch)
                )
        self.segments = {}
        for group, ms in zip(self.groups, members):
            group.members = tuple(ms)
            self.segments[group.name] = _segments(ms)

    def group(self, name):
        """Returns the group called `name`.

        Raises:
            KeyError: If there is no such group.
        """
        if name not in self._by_name:
            raise KeyError(
                f"No channel group named {name!r}. Groups: "
                f"{_preview(list(self._by_name))}"
            )
        return self._by_name[name]

    def weight_refs(self, group, roles=("producer", "norm")):
        """The group's weights as variables of `self.model`.

        Args:
            group: A `ChannelGroup` of this graph, or its name.
            roles: Member roles to include. Defaults to
                `("producer", "norm")`: the weights whose norm tells
                whether the channels are used (the group-lasso weights).

        Returns:
            A list of `WeightRef`, one per member with a role in `roles`.
        """
        group = self.group(group if isinstance(group, str) else group.name)
        layers = {n.name: n.layer for n in self.flat.nodes}
        refs = []
        for m in group.members:
            if m.role in roles:
                var = _variable(layers[m.layer], m.weight)
                refs.append(WeightRef(var, m, group.size))
        return refs

    def keep_elements(self, masks):
        """Turns `{group name: bool mask}` into a keep flag per element.

        Args:
            masks: Dict from group name to a boolean array of `group.size`.
                Missing groups keep all their channels.

        Returns:
            A boolean array over all channel elements of the graph.

        Raises:
            MaskError: For unknown names, wrong lengths or types, and masks
                that remove every channel of a group or of one producer
                layer in it.
        """
        keep = np.ones(self._num_elements, dtype=bool)
        for name, mask in _validate_masks(self, masks).items():
            for layer, channels in self.segments[name]:
                if not mask[channels].any():
                    raise MaskError(
                        f"The mask of group {name!r} removes every output "
                        f"channel of layer '{layer}'; keep at least one "
                        "channel of each producer in the group."
                    )
            idx = self._group_elements[self.groups.index(self._by_name[name])]
            keep[idx] = mask[self.element_channel[idx]]
        return keep

    def summary(self):
        """Returns a printable table of the groups."""
        lines = [f"ChannelGraph of '{self.model.name}'"]
        head = f"{'group':<32} {'size':>6}  producers -> consumers"
        lines += [head, "-" * len(head)]
        for g in self.groups:
            prod = ",".join(g.layers("producer") or g.layers("norm"))
            cons = ",".join(g.layers("consumer"))
            lines.append(f"{g.name:<32} {g.size:>6}  {prod} -> {cons}")
        total = sum(g.size for g in self.groups)
        lines.append(
            f"{len(self.groups)} groups, {total} prunable channels, "
            f"{len(self.flat.nodes)} layers"
        )
        if self.fixed_layers:
            lines.append(f"kept whole by: {', '.join(self.fixed_layers)}")
        return "\n".join(lines)

    def get_config(self):
        """Returns `{"model": serialized model}` (architecture only)."""
        return {"model": keras.saving.serialize_keras_object(self.model)}

    @classmethod
    def from_config(cls, config):
        """Rebuilds the graph of a freshly built copy of the model."""
        return cls(keras.saving.deserialize_keras_object(config["model"]))

    def __repr__(self):
        return (
            f"ChannelGraph(model={self.model.name!r}, "
            f"groups={len(self.groups)})"
        )


def _segments(members):
    """`(layer, channels)` of each producer: each must keep a channel."""
    out = []
    for m in members:
        if m.role == "producer" and m.weight.split("/")[-1] != "bias":
            out.append((m.layer, np.unique(m.channels)))
    return out


def _find(link, r):
    while r in link:
        r = link[r]
    return r


def _channels(shape, what):
    if len(shape) < 2:
        return 1
    if shape[-1] is None:
        raise GraphError(
            f"The channel count of the {what} is unknown (shape {shape}). "
            "Give the model inputs a known last dimension."
        )
    return int(shape[-1])


def _variable(layer, name):
    var = find_weight(layer, name)
    if var is not None:
        return var
    raise GraphError(f"Layer '{layer.name}' has no weight named '{name}'.")


def _preview(names, n=8):
    more = f" ... ({len(names)} in all)" if len(names) > n else ""
    return ", ".join(repr(x) for x in names[:n]) + more


def _validate_masks(graph, masks):
    if not isinstance(masks, dict):
        raise TypeError(
            "Invalid value for argument `masks`. Expected a dict "
            "{group name: boolean array}. Received: "
            f"masks of type {type(masks).__name__}"
        )
    out = {}
    for name, mask in masks.items():
        if name not in graph._by_name:
            raise MaskError(
                f"Unknown channel group {name!r} in `masks`. Groups of this "
                f"model: {_preview([g.name for g in graph.groups])}"
            )
        out[name] = _validate_mask(name, mask, graph._by_name[name].size)
    return out


def _validate_mask(name, mask, size):
    arr = np.asarray(mask)
    if arr.dtype != bool:
        if arr.dtype.kind not in "iu" or not np.isin(arr, (0, 1)).all():
            raise MaskError(
                f"The mask of group {name!r} must be boolean (or 0/1). "
                f"Received dtype {arr.dtype}."
            )
        arr = arr.astype(bool)
    if arr.shape != (size,):
        raise MaskError(
            f"The mask of group {name!r} must have shape ({size},), one "
            f"entry per channel. Received shape {arr.shape}."
        )
    if not arr.any():
        raise MaskError(
            f"The mask of group {name!r} removes all {size} channels; keep "
            "at least one."
        )
    return arr
