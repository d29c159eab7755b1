"""tf_compact.callbacks: Keras callbacks that steer sparsity and pruning.

- `SparsityController`: proportional control of the penalty strength from
  the student/teacher gap (loss or accuracy) against an allowed setpoint.
- `BudgetController`: raises the strength (globally or one per block) until
  the would-be slim model meets a MACs or parameter budget, then holds; a
  global budget's penalty acts only on the channels the budget requires.
- `ProximalStep`: exact zeros for a proximal penalty trained by a custom
  model (`tfc.Sparsifier` and `tfc.Distiller` apply the step themselves).
- `IterativePruning`: global iterative pruning (masking) during training.
- `GradualPruning`: structured pruning to a MACs/params budget on a cubic
  schedule of training steps (masking), the structured counterpart of
  gradual magnitude pruning.

The controllers write `sparsity_strength`, `group_sparsity` and
`slim_macs_fraction` into the epoch logs and keep their state in variables
of the penalty, so `keras.callbacks.BackupAndRestore` resumes them exactly.

Example:

```python
trainer = tfc.Sparsifier(model, sparsity=tfc.GroupLasso(1e-4, proximal=True))
trainer.compile("adam", "sparse_categorical_crossentropy")
budget = tfc.callbacks.BudgetController(target_macs=0.5)
trainer.fit(x, y, epochs=10, callbacks=[budget])
```
"""

from tf_compact.callbacks.budget_controller import BudgetController
from tf_compact.callbacks.gradual_pruning import GradualPruning
from tf_compact.callbacks.iterative_pruning import IterativePruning
from tf_compact.callbacks.penalty_controller import PenaltyController
from tf_compact.callbacks.proximal_step import ProximalStep
from tf_compact.callbacks.sparsity_controller import SparsityController

__all__ = [
    "BudgetController",
    "GradualPruning",
    "IterativePruning",
    "PenaltyController",
    "ProximalStep",
    "SparsityController",
]
