"""`Width`: a uniformly narrower copy of the teacher, trained with KD."""

from tf_compact.internal.validation import validate_fraction
from tf_compact.methods.method import Method
from tf_compact.methods.method import refuse_latency


class Width(Method):
    """Distills into the teacher's architecture at a width multiplier.

    The student is the teacher with every prunable layer's channels scaled
    by `width_multiplier` (`tfc.lighten.width`), trained from scratch with
    distillation for `compress`'s `epochs`; nothing is pruned.

    Args:
        width_multiplier: the channel fraction, a float in (0, 1].
        target_latency: refused (a latency budget is met by
            `tfc.methods.OneShot`). Defaults to `None`.

    Raises:
        ValueError: unless `width_multiplier` is in (0, 1].

    Example:

    ```python
    result = tfc.compress(teacher, bundle,
                          method=tfc.methods.Width(0.5), epochs=6)
    ```
    """

    name = "width"

    def __init__(self, width_multiplier=None, target_latency=None):
        refuse_latency("Width", target_latency)
        self._init(
            width_multiplier=validate_fraction(
                "width_multiplier", width_multiplier
            )
        )
