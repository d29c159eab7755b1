"""`Auto`: one-shot pruning with a budget, the controller without one."""

from tf_compact.methods.controller import Controller
from tf_compact.methods.method import Method
from tf_compact.methods.method import parse_budget
from tf_compact.methods.one_shot import OneShot
from tf_compact.pruning.validation import validate_target_latency


class Auto(Method):
    """Picks the method from the budget: `OneShot` with one, else
    `Controller`.

    `compress` runs `resolve()`; the report names the method that ran.
    `method="auto"` (the default of `compress`) is `Auto()`, that is the
    controller. With a budget, one-shot pruning is chosen over
    group-sparse training (`Budget`): one-shot pruning (with
    `allocation="sensitivity"`) was as accurate or more at equal student
    epochs on most teachers and operating points of the evidence
    benchmark (the benchmarks page, "Group-sparse training against
    one-shot"). Ask for `Budget` by name to try it, and for
    `OneShot(allocation="sensitivity")` for that benchmark's arm.

    Args:
        target_macs: MACs budget: a fraction of the teacher's MACs (a float
            in (0, 1]) or an absolute count (an int >= 2). Defaults to
            `None`.
        target_params: parameter budget, same convention. Defaults to
            `None`.
        target_latency: latency budget in milliseconds (see
            `tfc.methods.OneShot`). Defaults to `None`.

    Example:

    ```python
    tfc.methods.Auto(target_macs=0.25).resolve()  # OneShot(target_macs=0.25)
    tfc.methods.Auto().resolve()                  # Controller()
    ```
    """

    name = "auto"

    def __init__(
        self, target_macs=None, target_params=None, target_latency=None
    ):
        budget = parse_budget("Auto", target_macs, target_params, False)
        if target_latency is not None:
            target_latency = validate_target_latency(target_latency)
        self._init(**budget, target_latency=target_latency)

    def resolve(self):
        """The method that runs: a `OneShot` or a `Controller`."""
        budget = {k: v for k, v in self._settings.items() if v is not None}
        return OneShot(**budget) if budget else Controller()
