"""`Gradual`: distillation while the channels shrink on a cubic schedule."""

from tf_compact.callbacks.gradual_pruning import GradualPruning
from tf_compact.internal.validation import validate_int
from tf_compact.methods.method import Method
from tf_compact.methods.method import parse_budget
from tf_compact.methods.method import refuse_latency


class Gradual(Method):
    """Distills while the channels shrink to the budget, then slims.

    `tfc.callbacks.GradualPruning` masks the weakest channels on a cubic
    schedule that reaches the budget after two thirds of `compress`'s
    `epochs`; the rest trains at the final widths, and the masked model
    is slimmed.

    Args:
        target_macs: MACs budget: a fraction of the teacher's MACs (a float
            in (0, 1]) or an absolute count (an int >= 2). Defaults to
            `None`.
        target_params: parameter budget, same convention. At least one
            target is needed. Defaults to `None`.
        importance: channel criterion read from the weights: `"l2"`,
            `"l1"` or `"bn_gamma"`. Defaults to `"l2"`.
        round_to: keep pruned widths multiples of this. Defaults to
            `None`.
        target_latency: refused (a latency budget is met by
            `tfc.methods.OneShot`). Defaults to `None`.

    Raises:
        ValueError: for an invalid or missing budget or setting.

    Example:

    ```python
    method = tfc.methods.Gradual(target_macs=0.25, importance="l1")
    result = tfc.compress(teacher, bundle, method=method, epochs=6)
    ```
    """

    name = "gradual"

    def __init__(
        self,
        target_macs=None,
        target_params=None,
        importance="l2",
        round_to=None,
        target_latency=None,
    ):
        refuse_latency("Gradual", target_latency)
        budget = parse_budget("Gradual", target_macs, target_params)
        if importance not in GradualPruning.CRITERIA:
            raise ValueError(
                "`tfc.methods.Gradual` ranks channels by their weights: "
                f"`importance` must be one of {GradualPruning.CRITERIA}. "
                f"Received: importance={importance!r}"
            )
        if round_to is not None:
            round_to = validate_int("round_to", round_to, minimum=1)
        self._init(
            **budget,
            importance=importance,
            round_to=round_to,
        )
