"""Handlers for layers without their own channels: they pass, join, split
or rearrange the channel spaces of their inputs."""

import math

import numpy as np

from tf_compact.graph.errors import GraphError
from tf_compact.graph.handler import LayerHandler
from tf_compact.internal import keras_compat


def channels_first(layer, shapes):
    """Whether `layer` reads a channels-first tensor of rank > 2."""
    fmt = getattr(layer, "data_format", "channels_last")
    return fmt == "channels_first" and len(shapes[0]) > 2


def bind_per_channel(ctx, names, space):
    """Binds the last axis of each named weight that has one per channel."""
    for v in getattr(ctx.layer, "weights", ()):
        if v.name in names and v.shape and v.shape[-1] == len(space):
            ctx.bind(v.name, -1, space, "norm" if v.trainable else "stat")


def fix_all(ctx):
    """Fixes every input and returns fresh fixed spaces for the outputs."""
    for space in ctx.inputs:
        ctx.fix(space)
    return [ctx.fixed_space(_last(s)) for s in ctx.output_shapes]


def _last(shape):
    return 1 if len(shape) < 2 else shape[-1]


class PassThroughHandler(LayerHandler):
    """A layer that maps channel c of its first input to channel c.

    Activations, dropout, pooling, padding, cropping and up-sampling are of
    this kind. Further input tensors (a mask) are read whole: their
    channels are fixed. An output with another channel count than the
    first input is refused with a `GraphError`. Weights named in
    `per_channel` whose last axis has one entry per channel (a PReLU
    alpha, a layer scale) are sliced with the channels.

    Args:
        per_channel: Names of per-channel weights. Defaults to `()`.

    Example:

    ```python
    tfc.register_handler(MyActivation, tfc.graph.PassThroughHandler())
    ```
    """

    def __init__(self, per_channel=()):
        self.per_channel = tuple(per_channel)

    def propagate(self, ctx):
        if channels_first(ctx.layer, ctx.input_shapes):
            return fix_all(ctx)
        space = ctx.inputs[0]
        for other in ctx.inputs[1:]:
            # Masks and other side inputs are read whole, never pruned.
            ctx.fix(other)
        for shape in ctx.output_shapes:
            if _last(shape) != len(space):
                raise GraphError(
                    f"Layer '{ctx.name}' ({type(ctx.layer).__name__}) has a "
                    "'passthrough' handler, but its output has "
                    f"{_last(shape)} channels for {len(space)} input "
                    "channels: a pass-through layer maps each input channel "
                    "to the same output channel. Register it as 'fixed' or "
                    "with a `tfc.graph.LayerHandler` subclass."
                )
        bind_per_channel(ctx, self.per_channel, space)
        return [space for _ in ctx.output_shapes]

    def get_config(self):
        return {"per_channel": list(self.per_channel)}


class FixedHandler(LayerHandler):
    """A layer kept as it is: the channels around it are never pruned.

    Example:

    ```python
    tfc.register_handler(MyAttention, tfc.graph.FixedHandler())
    ```
    """

    def propagate(self, ctx):
        return fix_all(ctx)


class ChannelReduceHandler(LayerHandler):
    """A layer that mixes all channels without weights (softmax, unit norm).

    When the layer works over the last axis, removing a channel would change
    every other channel, so the input channels are fixed.

    Args:
        axis_attr: Name of the layer attribute holding the axis. Defaults to
            `"axis"`.
    """

    def __init__(self, axis_attr="axis"):
        self.axis_attr = axis_attr

    def propagate(self, ctx):
        axis = getattr(ctx.layer, self.axis_attr, -1)
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        rank = len(ctx.input_shapes[0])
        if any(a % rank == rank - 1 for a in axes):
            ctx.fix(ctx.inputs[0])
        return [ctx.inputs[0] for _ in ctx.output_shapes]

    def get_config(self):
        return {"axis_attr": self.axis_attr}


class ActivationHandler(LayerHandler):
    """`keras.layers.Activation`: per channel, except softmax-like ones."""

    def propagate(self, ctx):
        name = getattr(ctx.layer.activation, "__name__", "")
        if name in ("softmax", "log_softmax"):
            ctx.fix(ctx.inputs[0])
        return [ctx.inputs[0]]


class MergeHandler(LayerHandler):
    """An element-wise merge: Add, Subtract, Multiply, Average, ...

    All inputs with the output's channel count are coupled channel by
    channel. An input broadcast along the channel axis (one channel) is
    fixed. A constant argument with more than one channel fixes everything.
    """

    def propagate(self, ctx):
        size = _last(ctx.output_shapes[0])
        if self._has_channel_constant(ctx, size):
            return fix_all(ctx)
        full = [s for s in ctx.inputs if len(s) == size]
        for s in ctx.inputs:
            if len(s) != size:
                ctx.fix(s)
        if not full:
            return [ctx.fixed_space(size)]
        for s in full[1:]:
            ctx.union(full[0], s)
        return [full[0]]

    @staticmethod
    def _has_channel_constant(ctx, size):
        for arg in ctx.args:
            if isinstance(arg, (keras_compat.KerasTensor, list, tuple)):
                continue
            shape = np.shape(arg)
            if shape and shape[-1] > 1:
                return True
        return size is None


class ConcatenateHandler(LayerHandler):
    """`Concatenate`: on the channel axis each input maps to an offset slice
    of the output; on another axis the inputs are coupled like a merge."""

    def propagate(self, ctx):
        rank = len(ctx.output_shapes[0])
        if ctx.layer.axis % rank == rank - 1:
            return [np.concatenate(ctx.inputs)]
        return MergeHandler().propagate(ctx)


class FlattenHandler(LayerHandler):
    """`Flatten`: channel c owns positions `p * C + c` of the output, so a
    following Dense reads H·W kernel rows per channel."""

    def propagate(self, ctx):
        shape = ctx.input_shapes[0]
        if len(shape) <= 2:
            return [ctx.inputs[0]]
        spatial = shape[1:-1]
        if channels_first(ctx.layer, ctx.input_shapes) or None in spatial:
            return fix_all(ctx)
        return [np.tile(ctx.inputs[0], math.prod(spatial))]


class ReshapeHandler(LayerHandler):
    """`Reshape`: exact wherever the last axis is merged or split.

    With the input's last axis of size `a` and the output's of size `b`:
    `a == b` passes through (an SE `(C,) -> (1, 1, C)`); `b = k·a` tiles
    the channels (flattening); `a = k·b` couples input positions `i` and
    `i mod b` (un-flattening). Any other reshape fixes its channels.
    """

    def propagate(self, ctx):
        space = ctx.inputs[0]
        a, b = len(space), _last(ctx.output_shapes[0])
        if b is None:
            return fix_all(ctx)
        if a == b:
            return [space]
        if b % a == 0:
            return [np.tile(space, b // a)]
        if a % b == 0:
            for k in range(1, a // b):
                ctx.union(space[:b], space[k * b : (k + 1) * b])
            return [space[:b]]
        return fix_all(ctx)

    def slim_config(self, layer, config, in_keep, out_keep):
        target = list(config["target_shape"])
        if target and target[-1] != -1:
            target[-1] = int(out_keep[0].sum())
        return {**config, "target_shape": tuple(target)}


class PermuteHandler(LayerHandler):
    """`Permute`: passes channels through when the last axis stays last."""

    def propagate(self, ctx):
        dims = tuple(ctx.layer.dims)
        if dims[-1] == len(dims):
            return [ctx.inputs[0]]
        return fix_all(ctx)


_PER_CHANNEL = (
    "RandomFlip RandomRotation RandomCrop RandomZoom RandomTranslation "
    "RandomContrast RandomBrightness Resizing CenterCrop RandomHeight "
    "RandomWidth RandomShear RandomPerspective RandomElasticTransform "
    "RandomErasing RandomGaussianBlur RandomSharpness RandomInvert "
    "RandomPosterization Solarization AutoContrast Equalization CutMix "
    "MixUp MaxNumBoundingBoxes"
)


class PreprocessingHandler(LayerHandler):
    """Keras preprocessing and augmentation layers (RandomFlip, Resizing, ...).

    At inference the random augmentations pass their input through, and in
    training the geometric ones (flips, rotations, crops, zooms, shifts,
    resizing) and the per-channel photometric ones (brightness, contrast,
    blur, ...) never mix channels: those pass channel `c` to channel `c`,
    whatever they do to the spatial size. Layers that mix channels
    (hue, saturation, grayscale, color jitter, policies such as
    RandAugment), change the channel count, or are not known to be per
    channel (lookups, encodings, spectrograms, custom subclasses of the
    preprocessing bases) keep the channels around them: they are fixed.

    Args:
        per_channel: Class names of the layers that map each channel to
            itself. Defaults to the Keras layers known to do so.

    Example:

    ```python
    tfc.register_handler(MyAugment, tfc.graph.PreprocessingHandler(
        per_channel=("MyAugment",)))
    ```
    """

    def __init__(self, per_channel=None):
        names = _PER_CHANNEL.split() if per_channel is None else per_channel
        self.per_channel = tuple(names)

    def _maps_channels(self, ctx):
        if len(ctx.inputs) != 1 or len(ctx.output_shapes) != 1:
            return False
        if channels_first(ctx.layer, ctx.input_shapes):
            return False
        if len(ctx.inputs[0]) != _last(ctx.output_shapes[0]):
            return False
        names = {c.__name__ for c in type(ctx.layer).__mro__}
        return bool(names.intersection(self.per_channel))

    def propagate(self, ctx):
        if self._maps_channels(ctx):
            return [ctx.inputs[0]]
        return fix_all(ctx)

    def get_config(self):
        return {"per_channel": list(self.per_channel)}


class RescalingHandler(LayerHandler):
    """`Rescaling`: per channel; a per-channel scale or offset is fixed."""

    def propagate(self, ctx):
        layer = ctx.layer
        for value in (layer.scale, layer.offset):
            if np.size(value) > 1:
                return fix_all(ctx)
        return [ctx.inputs[0]]
