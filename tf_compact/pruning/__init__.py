"""tf_compact.pruning: importance criteria and one-shot pruning."""

from tf_compact.pruning.importance import group_importance
from tf_compact.pruning.prune import prune
from tf_compact.pruning.prune import prune_masks

__all__ = [
    "group_importance",
    "prune",
    "prune_masks",
]
