"""`Iterative`: global iterative pruning with distillation between rounds."""

from tf_compact.callbacks.gradual_pruning import GradualPruning
from tf_compact.internal.validation import validate_choice
from tf_compact.internal.validation import validate_int
from tf_compact.methods.method import Method
from tf_compact.methods.method import parse_budget
from tf_compact.methods.method import refuse_latency


class Iterative(Method):
    """Prunes the globally weakest channels round by round, with KD.

    `tfc.iterative_prune` on the teacher copy: each round removes the
    least important channels of the whole model, slims it and fine-tunes
    it with distillation from the teacher; the per-round fraction is
    chosen so the budget is reached in about `rounds` rounds (the last one
    prunes exactly to it), and `compress`'s `epochs` are shared among the
    rounds.

    Args:
        target_macs: MACs budget: a fraction of the teacher's MACs (a float
            in (0, 1]) or an absolute count (an int >= 2). Defaults to
            `None`.
        target_params: parameter budget, same convention. At least one
            target is needed. Defaults to `None`.
        rounds: planned pruning rounds. Defaults to `4`.
        importance: channel criterion, `"l2"`, `"l1"` or `"bn_gamma"`.
            Defaults to `"l2"`.
        target_latency: refused (a latency budget is met by
            `tfc.methods.OneShot`). Defaults to `None`.

    Raises:
        ValueError: for an invalid or missing budget or setting.

    Example:

    ```python
    method = tfc.methods.Iterative(target_macs=0.25, rounds=4)
    result = tfc.compress(teacher, bundle, method=method, epochs=8)
    ```
    """

    name = "iterative"

    def __init__(
        self,
        target_macs=None,
        target_params=None,
        rounds=4,
        importance="l2",
        target_latency=None,
    ):
        refuse_latency("Iterative", target_latency)
        budget = parse_budget("Iterative", target_macs, target_params)
        self._init(
            **budget,
            rounds=validate_int("rounds", rounds, minimum=1),
            importance=validate_choice(
                "importance", importance, GradualPruning.CRITERIA
            ),
        )
