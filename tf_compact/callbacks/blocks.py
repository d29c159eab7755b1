"""Blocks of a model for per-block budgets: named by the user or found."""

import numpy as np


def validate_blocks(blocks):
    """Refuses a `blocks` argument of the wrong shape, before any model is
    seen (layer names are checked against the model by `resolve_blocks`).

    Raises:
        ValueError: Unless `blocks` is `None`, `"auto"`, or a non-empty
            dict whose values are a name prefix or a non-empty list of
            layer names.

    Example:

    ```python
    validate_blocks({"stem": "block1_", "head": ["fc1", "logits"]})
    ```
    """
    if blocks is None or (isinstance(blocks, str) and blocks == "auto"):
        return
    fine = isinstance(blocks, dict) and bool(blocks)
    for layers in blocks.values() if fine else ():
        if isinstance(layers, str):
            continue
        if not isinstance(layers, (list, tuple)) or not all(
            isinstance(n, str) for n in layers
        ):
            fine = False
        fine = fine and bool(layers)
    if not fine:
        raise ValueError(
            "Invalid value for argument `blocks`. Expected 'auto' or a "
            "non-empty dict {block name: [layer names] or a name prefix}. "
            f"Received: blocks={blocks!r}"
        )


def resolve_blocks(graph, blocks):
    """Returns `{block name: [layer names]}` for the nodes of `graph`.

    Args:
        graph: A `tfc.ChannelGraph`.
        blocks: `"auto"`, or a dict `{block name: layers}` where `layers` is
            a list of layer names or one string, a name prefix.

    Returns:
        An ordered dict of non-empty blocks.

    Raises:
        ValueError: If a block names an unknown layer or matches nothing,
            or if `blocks` has the wrong type.
    """
    names = [node.name for node in graph.flat.nodes]
    if isinstance(blocks, str) and blocks == "auto":
        return auto_blocks(graph)
    validate_blocks(blocks)
    out = {}
    for block, layers in blocks.items():
        if isinstance(layers, str):
            members = [n for n in names if n.startswith(layers)]
        else:
            members = list(layers)
            unknown = [n for n in members if n not in names]
            if unknown:
                raise ValueError(
                    f"Block {block!r} names layers the model does not have: "
                    f"{unknown}. Layers: {names[:12]}"
                )
        if not members:
            raise ValueError(
                f"Block {block!r} matches no layer of the model. Received: "
                f"{layers!r}"
            )
        out[str(block)] = members
    return out


def auto_blocks(graph):
    """Splits the layers into stages of equal output resolution.

    Layers whose output is spatial are grouped by their spatial size (one
    block per resolution, in order of appearance, named `stage1`,
    `stage2`, ...); the layers after the last spatial output (pooling,
    Dense head) form `head`.
    """
    stage_of = {}
    order = []
    blocks = {}
    for node in graph.flat.nodes:
        shapes = node.output_shapes or [()]
        shape = tuple(shapes[0]) if shapes else ()
        key = tuple(shape[1:-1]) if len(shape) > 2 else "head"
        if key not in stage_of:
            stage_of[key] = (
                "head" if key == "head" else f"stage{len(order) + 1}"
            )
            if key != "head":
                order.append(key)
        blocks.setdefault(stage_of[key], []).append(node.name)
    if "head" in blocks:
        blocks["head"] = blocks.pop("head")
    return blocks


def channel_blocks(plan, graph, blocks):
    """Returns the block index of every channel of `plan` (-1: none).

    A group belongs to the block of its first producer layer (or its first
    norm layer when it has no producer).
    """
    layer_block = {}
    for i, layers in enumerate(blocks.values()):
        for name in layers:
            layer_block.setdefault(name, i)
    out = np.full((plan.num_channels,), -1, dtype="int64")
    for i, group in enumerate(graph.groups):
        owners = group.layers("producer") or group.layers("norm")
        index = next((layer_block[n] for n in owners if n in layer_block), -1)
        out[plan.offsets[i] : plan.offsets[i + 1]] = index
    return out
