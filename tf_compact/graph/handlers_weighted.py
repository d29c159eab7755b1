"""Handlers for layers that own channels: convolutions, Dense, norms."""

import numpy as np

from tf_compact.graph.handler import LayerHandler
from tf_compact.graph.handlers_shape import bind_per_channel
from tf_compact.graph.handlers_shape import channels_first
from tf_compact.graph.handlers_shape import fix_all


def _has_bias(layer):
    return any(v.name == "bias" for v in layer.weights)


def bind_lora(ctx, in_space, out_space):
    """Binds the LoRA factors of a layer with `enable_lora` called.

    The effective kernel is `kernel + (alpha / rank) * lora_kernel_a @
    lora_kernel_b`: `lora_kernel_a` reads the input channels on its
    second-to-last axis (`(in, rank)`, or `(*k, in, rank)` for a
    convolution) and `lora_kernel_b` writes the output channels on its
    last axis (`(rank, out)`). Binding them with the kernel makes a removed
    channel zero in the effective kernel, and slimming slices them too.
    """
    if not getattr(ctx.layer, "lora_enabled", False):
        return
    ctx.bind("lora_kernel_a", -2, in_space, "consumer")
    ctx.bind("lora_kernel_b", -1, out_space, "producer")


class ConvHandler(LayerHandler):
    """Conv1D/2D/3D: output channels are a new prunable space.

    Kernel layout `(*k, in, out)`. A grouped convolution with one input
    channel per group (`groups` equal to the input channels, the depthwise
    convolution of ConvNeXt) is a depthwise one: output channel `c·m + j`
    belongs to input channel `c`, so both share the input's group and
    slimming narrows `groups` with `filters`. Any other grouped convolution
    and a channels-first one are kept whole: their input and output
    channels are fixed, so the graph never cuts through a group. With LoRA
    enabled its factors are bound with the kernel (see `bind_lora`).
    """

    def propagate(self, ctx):
        layer = ctx.layer
        if channels_first(layer, ctx.input_shapes):
            return fix_all(ctx)
        if layer.groups > 1:
            return self._grouped(ctx)
        out = ctx.new_space(layer.filters)
        ctx.bind("kernel", -1, out, "producer")
        ctx.bind("kernel", -2, ctx.inputs[0], "consumer")
        bind_lora(ctx, ctx.inputs[0], out)
        if _has_bias(layer):
            ctx.bind("bias", 0, out, "producer")
        return [out]

    def _grouped(self, ctx):
        layer = ctx.layer
        space = ctx.inputs[0]
        lora = getattr(layer, "lora_enabled", False)
        if layer.groups != len(space) or lora:
            return fix_all(ctx)
        out = np.repeat(space, layer.filters // layer.groups)
        ctx.bind("kernel", -1, out, "norm")
        if _has_bias(layer):
            ctx.bind("bias", 0, out, "norm")
        return [out]

    def slim_config(self, layer, config, in_keep, out_keep):
        config = {**config, "filters": int(out_keep[0].sum())}
        if getattr(layer, "groups", 1) > 1:
            config["groups"] = int(in_keep[0].sum())
        return config


class ConvTransposeHandler(ConvHandler):
    """Conv1D/2D/3DTranspose: kernel layout `(*k, out, in)`."""

    def propagate(self, ctx):
        layer = ctx.layer
        if getattr(layer, "groups", 1) > 1 or channels_first(
            layer, ctx.input_shapes
        ):
            return fix_all(ctx)
        out = ctx.new_space(layer.filters)
        ctx.bind("kernel", -2, out, "producer")
        ctx.bind("kernel", -1, ctx.inputs[0], "consumer")
        if _has_bias(layer):
            ctx.bind("bias", 0, out, "producer")
        return [out]


class DepthwiseHandler(LayerHandler):
    """DepthwiseConv1D/2D: output channel `c·m + j` belongs to input channel
    `c` (`m = depth_multiplier`), so input and output share one group.

    Kernel layout `(*k, in, m)`; its slices are the group's "norm" weights.
    """

    def propagate(self, ctx):
        layer = ctx.layer
        if channels_first(layer, ctx.input_shapes):
            return fix_all(ctx)
        space = ctx.inputs[0]
        out = np.repeat(space, layer.depth_multiplier)
        ctx.bind("kernel", -2, space, "norm")
        if _has_bias(layer):
            ctx.bind("bias", 0, out, "norm")
        return [out]


class SeparableHandler(ConvHandler):
    """SeparableConv1D/2D: a depthwise kernel `(*k, in, m)` reading the
    input, then a pointwise kernel `(1.., in·m, filters)` making new
    channels."""

    def propagate(self, ctx):
        layer = ctx.layer
        if channels_first(layer, ctx.input_shapes):
            return fix_all(ctx)
        space = ctx.inputs[0]
        mid = np.repeat(space, layer.depth_multiplier)
        out = ctx.new_space(layer.filters)
        ctx.bind("depthwise_kernel", -2, space, "consumer")
        ctx.bind("pointwise_kernel", -2, mid, "consumer")
        ctx.bind("pointwise_kernel", -1, out, "producer")
        if _has_bias(layer):
            ctx.bind("bias", 0, out, "producer")
        return [out]


class DenseHandler(LayerHandler):
    """Dense: kernel `(in, units)`; the units are a new prunable space.

    With LoRA enabled, `lora_kernel_a` `(in, rank)` and `lora_kernel_b`
    `(rank, units)` are bound with the kernel (see `bind_lora`).
    """

    def propagate(self, ctx):
        out = ctx.new_space(ctx.layer.units)
        ctx.bind("kernel", 1, out, "producer")
        ctx.bind("kernel", 0, ctx.inputs[0], "consumer")
        bind_lora(ctx, ctx.inputs[0], out)
        if _has_bias(ctx.layer):
            ctx.bind("bias", 0, out, "producer")
        return [out]

    def slim_config(self, layer, config, in_keep, out_keep):
        return {**config, "units": int(out_keep[0].sum())}


class BatchNormHandler(LayerHandler):
    """BatchNormalization over the last axis: per channel γ, β (norm) and
    moving mean and variance (stat). Another axis fixes the channels."""

    NAMES = ("gamma", "beta", "moving_mean", "moving_variance")

    def propagate(self, ctx):
        rank = len(ctx.input_shapes[0])
        if ctx.layer.axis % rank != rank - 1:
            return fix_all(ctx)
        bind_per_channel(ctx, self.NAMES, ctx.inputs[0])
        return [ctx.inputs[0]]


class LayerNormHandler(LayerHandler):
    """LayerNormalization / RMSNormalization.

    Normalizing over the channel axis computes statistics across channels:
    removing one would change all the others, so those channels are fixed.
    Normalizing over other axes only is per channel.
    """

    def propagate(self, ctx):
        axis = ctx.layer.axis
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        rank = len(ctx.input_shapes[0])
        if any(a % rank == rank - 1 for a in axes):
            ctx.fix(ctx.inputs[0])
        return [ctx.inputs[0]]


class GroupNormHandler(LayerHandler):
    """GroupNormalization: the channels of one normalization group are
    coupled (kept or removed as a whole group); γ and β are per channel."""

    def propagate(self, ctx):
        layer = ctx.layer
        space = ctx.inputs[0]
        rank = len(ctx.input_shapes[0])
        if layer.axis % rank != rank - 1 or layer.groups == 1:
            ctx.fix(space)
            return [space]
        width = len(space) // layer.groups
        for g in range(layer.groups):
            block = space[g * width : (g + 1) * width]
            ctx.union(np.repeat(block[:1], width - 1), block[1:])
        bind_per_channel(ctx, ("gamma", "beta"), space)
        return [space]

    def slim_config(self, layer, config, in_keep, out_keep):
        width = len(in_keep[0]) // layer.groups
        return {**config, "groups": int(in_keep[0].sum()) // width}


class LayerScaleHandler(LayerHandler):
    """A per-channel scale layer with a `projection_dim`-like config key.

    Args:
        weight: Attribute of the layer holding the scale variable.
            Defaults to `"gamma"`.
        config_key: Config key holding the channel count. Defaults to
            `"projection_dim"`.
    """

    def __init__(self, weight="gamma", config_key="projection_dim"):
        self.weight = weight
        self.config_key = config_key

    def propagate(self, ctx):
        var = getattr(ctx.layer, self.weight, None)
        name = getattr(var, "name", self.weight)
        ctx.bind(name, -1, ctx.inputs[0], "norm")
        return [ctx.inputs[0]]

    def slim_config(self, layer, config, in_keep, out_keep):
        return {**config, self.config_key: int(in_keep[0].sum())}

    def get_config(self):
        return {"weight": self.weight, "config_key": self.config_key}


class NormalizationHandler(LayerHandler):
    """`keras.layers.Normalization`.

    With statistics per channel (the default `axis=-1`, or any axis list
    holding the channel axis) the mean and variance live in its config or
    adapted state and would have to be sliced with the channels, so the
    channels it sees are fixed: a convolution feeding it keeps all its
    filters. With one statistic for all channels (`axis=None`) or none on
    the channel axis, it maps each channel to itself.
    """

    def propagate(self, ctx):
        rank = len(ctx.input_shapes[0])
        axes = tuple(getattr(ctx.layer, "axis", (-1,)) or ())
        if any(a % rank == rank - 1 for a in axes):
            ctx.fix(ctx.inputs[0])
        return [ctx.inputs[0]]
