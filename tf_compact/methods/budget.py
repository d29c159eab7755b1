"""`Budget`: group-lasso distillation with λ steered to a budget."""

from tf_compact.internal.validation import validate_int
from tf_compact.internal.validation import validate_non_negative
from tf_compact.methods.method import Method
from tf_compact.methods.method import parse_budget
from tf_compact.methods.method import refuse_latency


class Budget(Method):
    """Sparse distillation whose strength is steered to a budget.

    The student trains with distillation plus a proximal group lasso over
    its channel groups (exact zeros); `tfc.callbacks.BudgetController`
    steers the strength λ several times per epoch until the would-be slim
    model meets the MACs/parameter budget (with both, the one that binds
    at each update), and the student is slimmed at the controller's final
    threshold.

    Args:
        target_macs: MACs budget: a fraction of the teacher's MACs (a float
            in (0, 1]) or an absolute count (an int >= 2). Defaults to
            `None`.
        target_params: parameter budget, same convention. At least one
            target is needed. Defaults to `None`.
        strength: initial λ, or `None` to start where the penalty is a
            tenth of the task loss. Defaults to `None`.
        updates_per_epoch: controller updates per epoch. Defaults to `8`.
        target_latency: refused (a latency budget is met by
            `tfc.methods.OneShot`). Defaults to `None`.

    Raises:
        ValueError: for an invalid or missing budget or setting.

    Example:

    ```python
    method = tfc.methods.Budget(target_macs=0.25)
    result = tfc.compress(teacher, bundle, method=method, epochs=8)
    ```
    """

    name = "budget"

    def __init__(
        self,
        target_macs=None,
        target_params=None,
        strength=None,
        updates_per_epoch=8,
        target_latency=None,
    ):
        refuse_latency("Budget", target_latency)
        budget = parse_budget("Budget", target_macs, target_params)
        if strength is not None:
            strength = validate_non_negative("strength", strength)
        self._init(
            **budget,
            strength=strength,
            updates_per_epoch=validate_int(
                "updates_per_epoch", updates_per_epoch, minimum=1
            ),
        )
