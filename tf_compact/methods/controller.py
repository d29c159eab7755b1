"""`Controller`: group-lasso distillation with λ set by the teacher gap."""

from tf_compact.internal.validation import validate_non_negative
from tf_compact.methods.method import Method
from tf_compact.methods.method import refuse_latency


class Controller(Method):
    """Sparse distillation whose strength follows the teacher/student gap.

    The student trains with distillation plus a group lasso over its
    channel groups; `tfc.callbacks.SparsityController` raises the strength
    λ while the student keeps up with the teacher on a held-out batch and
    lowers it when it falls behind. The student is slimmed at the
    controller's threshold: the size follows from the data, there is no
    budget.

    Args:
        strength: initial λ. Defaults to `None` (`1e-4`).
        target_latency: refused (a latency budget is met by
            `tfc.methods.OneShot`). Defaults to `None`.

    Raises:
        ValueError: for a negative or non-finite `strength`.

    Example:

    ```python
    result = tfc.compress(teacher, bundle,
                          method=tfc.methods.Controller(strength=1e-4))
    ```
    """

    name = "controller"

    def __init__(self, strength=None, target_latency=None):
        refuse_latency("Controller", target_latency)
        if strength is not None:
            strength = validate_non_negative("strength", strength)
        self._init(strength=strength)
