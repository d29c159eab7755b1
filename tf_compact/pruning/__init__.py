"""tf_compact.pruning: importance criteria and one-shot pruning.

`group_importance` scores the channels of every coupled group, `prune_masks`
picks the channels to keep for a ratio or a budget, and `prune` applies
those masks and returns the physically smaller model.

Example:

```python
scores = tfc.pruning.group_importance(model, criterion="l2")
masks = tfc.pruning.prune_masks(model, target_macs=0.5)
small = tfc.pruning.prune(model, target_macs=0.5)
print(tfc.profile(model).macs, "->", tfc.profile(small).macs)
```
"""

from tf_compact.pruning.importance import group_importance
from tf_compact.pruning.latency import build_latency_table
from tf_compact.pruning.latency_probes import export_probes
from tf_compact.pruning.latency_table import LatencyTable
from tf_compact.pruning.prune import prune
from tf_compact.pruning.prune import prune_masks

__all__ = [
    "LatencyTable",
    "build_latency_table",
    "export_probes",
    "group_importance",
    "prune",
    "prune_masks",
]
