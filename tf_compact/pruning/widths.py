"""Kept widths chosen per group: `prune(widths=...)` and the widths
`scope="sensitivity"` allocates, as masks."""

import numbers

from tf_compact.pruning.selection import top_mask


def groups_by_name(graph):
    """`{name: ChannelGroup}` for each group's name and each of its
    producer layers' names (a group's own name wins)."""
    by_name = {}
    for group in graph.groups:
        by_name[group.name] = group
        for layer in group.layers("producer"):
            by_name.setdefault(layer, group)
    return by_name


def resolve_widths(graph, widths):
    """`{group name: count}` from `{group or producer layer name: count}`."""
    by_layer = groups_by_name(graph)
    wanted = {}
    for name, count in widths.items():
        name = getattr(name, "name", name)
        group = by_layer.get(name)
        if group is None:
            raise ValueError(
                "Invalid value for argument `widths`: no channel group or "
                f"producer layer named {name!r} in model "
                f"'{graph.model.name}'. Prunable groups: "
                f"{[g.name for g in graph.groups]}. Received: widths={widths}"
            )
        if (
            not isinstance(count, numbers.Integral)
            or isinstance(count, bool)
            or not 1 <= count <= group.size
        ):
            raise ValueError(
                f"Invalid value for argument `widths`: {name!r} needs an "
                f"int in [1, {group.size}] (group {group.name!r} has "
                f"{group.size} channels). Received: {count!r}"
            )
        if wanted.get(group.name, count) != count:
            raise ValueError(
                "Invalid value for argument `widths`: two names of group "
                f"{group.name!r} ask for different widths. Received: "
                f"widths={widths}"
            )
        wanted[group.name] = int(count)
    return wanted


def width_masks(graph, scores, wanted):
    """`{group name: mask}` keeping each group's `wanted` best channels."""
    masks = {}
    for name, count in wanted.items():
        if count == graph.group(name).size:
            continue
        if name not in scores:
            raise ValueError(
                f"Invalid value for argument `widths`: group {name!r} is "
                "not prunable here (it is in `ignored_layers`, or its "
                "channels are fixed by the model's output)."
            )
        masks[name] = top_mask(scores[name], count)
    return masks
