"""tf_compact.methods: what `tfc.compress` runs, as objects with settings.

Each method object carries the settings only that method uses; the
settings every method shares are in `Training` (how the student is built
and trained) and `Export` (TFLite conversion and benchmark).

- `OneShot`: structured pruning to a MACs, parameter or latency budget
  (or hand-chosen widths) in one step, then KD.
- `Iterative`: global iterative pruning, KD between rounds.
- `Gradual`: KD while the channels shrink on a cubic schedule.
- `Budget`: KD + proximal group lasso, λ steered to the budget.
- `Controller`: KD + group lasso, λ from the teacher/student gap.
- `Width`: the teacher at a width multiplier, trained with KD.
- `Auto`: `OneShot` with a budget, else `Controller`.

Example:

```python
method = tfc.methods.OneShot(target_macs=0.25, allocation="sensitivity",
                             round_to=8)
result = tfc.compress(teacher, bundle, method=method, epochs=6,
                      training=tfc.methods.Training(finetune_epochs=0))
```
"""

from tf_compact.methods.auto import Auto
from tf_compact.methods.budget import Budget
from tf_compact.methods.controller import Controller
from tf_compact.methods.gradual import Gradual
from tf_compact.methods.iterative import Iterative
from tf_compact.methods.method import Method
from tf_compact.methods.one_shot import OneShot
from tf_compact.methods.registry import METHODS
from tf_compact.methods.registry import get
from tf_compact.methods.settings import Export
from tf_compact.methods.settings import Training
from tf_compact.methods.width import Width

__all__ = [
    "Auto",
    "Budget",
    "Controller",
    "Export",
    "Gradual",
    "Iterative",
    "METHODS",
    "Method",
    "OneShot",
    "Training",
    "Width",
    "get",
]
