"""Zeroing the channels a controller counts as removed, everywhere.

A controller counts a channel as removed when its penalty value is under
the threshold. `tfc.prune(model, threshold=...)` removes the channel with
every weight coupled to it: the producers' kernel and bias, the BN scale
and shift, the consumers' input slices. When the penalty reaches only
part of those (`tfc.BNGammaL1` zeroes the BN scale; a silenced channel
still adds the constant of its BN shift), or when a fallback prunes
channels the training did not zero, the trained model and the slim model
compute different functions. Zeroing every coupled weight of those
channels at the end of training makes them agree, and the BN
recalibration that follows then sees the slim model's activations.
"""

import numpy as np

from tf_compact.internal.user_warning import warn
from tf_compact.sparsity import group_plan


def silence_channels(penalty, drop):
    """Zeroes every weight coupled to the channels where `drop` is true.

    Args:
        penalty: The bound `tfc.GroupLasso` / `tfc.BNGammaL1`; its plan's
            graph and channel numbering are used.
        drop: bool array, one entry per channel of the penalty's plan.

    Returns:
        How many of those channels had a non-zero producer or BN weight
        before (0 when the penalty had already zeroed them all).
    """
    drop = np.asarray(drop, dtype=bool)
    if not drop.any():
        return 0
    graph = penalty.plan.graph
    own = group_plan.GroupPlan.from_graph(graph, group_plan.PRODUCER_ROLES)
    before = np.asarray(own.reduce("l1"))
    everything = group_plan.GroupPlan.from_graph(
        graph, group_plan.PRODUCER_ROLES + group_plan.CONSUMER_ROLES
    )
    everything.scale_channels((~drop).astype("float32"))
    return int(np.count_nonzero(drop & (before > 0)))


def silence_under(controller, threshold):
    """Zeroes the channels under `threshold` of a controller's penalty, and
    warns when the penalty reaches only some of their weights and the
    others were not zero."""
    penalty = controller.penalty
    values = np.asarray(penalty.channel_values(controller.target))
    changed = silence_channels(penalty, values < threshold)
    # A penalty over every weight of a channel leaves at most a norm under
    # the threshold; one over some of them (BN scales) leaves the rest.
    if changed and getattr(penalty, "weight_names", None):
        name = type(controller).__name__
        warn(
            f"{name}: {changed} channel(s) counted as removed (penalty value "
            f"under {threshold:g}) still had non-zero weights the penalty "
            f"does not reach ({type(penalty).__name__} zeroes only "
            f"{', '.join(penalty.weight_names)}; a channel with a zero BN "
            "scale still adds its BN shift). Every weight of those "
            "channels was zeroed in the trained model, which now "
            "computes what the slim model does; fine-tune after "
            "slimming, or use `tfc.GroupLasso`, whose silenced channels "
            "are exactly zero.",
        )
    return changed
