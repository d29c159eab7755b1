"""tf_compact.sparsity: group-sparsity penalties and teacher-less training.

The sparsity unit is one channel of a `tfc.ChannelGraph` group together with
every weight coupled to it. `GroupLasso` (or `BNGammaL1`) penalizes the
channel norms with a strength held in a variable, which the controllers of
`tf_compact.callbacks` steer during training. Two ways to train with it:

With a teacher (`tfc.Distiller` adds the penalty and logs `sparsity_loss`):

```python
penalty = tfc.GroupLasso(strength=0.05, proximal=True)
distiller = tfc.Distiller(
    teacher, student, distillation_losses=[tfc.LogitsKD()], sparsity=penalty
)
distiller.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
budget = tfc.callbacks.BudgetController(target_macs=0.25)
distiller.fit(x, y, epochs=5, callbacks=[budget])
slim = tfc.prune(student, threshold=budget.threshold)
```

Without a teacher (`Sparsifier` wraps the model for plain `fit`; it applies
the proximal step itself):

```python
trainer = tfc.Sparsifier(model, sparsity=tfc.GroupLasso(0.05, proximal=True))
trainer.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
trainer.fit(x, y, epochs=5)
print(tfc.sparsity_report(model, threshold=1e-3).table())
```

Pruning channels whose norm is exactly zero preserves the function, but
the BN moving statistics lag behind kernels that the penalty shrinks (BN
makes them scale-invariant): call `recalibrate_batch_norm(model, x_train)`
before evaluating or exporting the slim model. `tfc.iterative_prune` is the
other route: prune the globally weakest channels round by round,
fine-tuning (with KD when a teacher is given) in between.
"""

from tf_compact.sparsity.batch_norm import recalibrate_batch_norm
from tf_compact.sparsity.bn_gamma import BNGammaL1
from tf_compact.sparsity.group_lasso import GroupLasso
from tf_compact.sparsity.group_plan import GroupPlan
from tf_compact.sparsity.report import SparsityReport
from tf_compact.sparsity.report import sparsity_report
from tf_compact.sparsity.sparsifier import Sparsifier
