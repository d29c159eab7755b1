"""Method names and `get`: what `compress(method=...)` accepts."""

from tf_compact.internal.validation import invalid
from tf_compact.methods.auto import Auto
from tf_compact.methods.budget import Budget
from tf_compact.methods.controller import Controller
from tf_compact.methods.gradual import Gradual
from tf_compact.methods.iterative import Iterative
from tf_compact.methods.method import Method
from tf_compact.methods.one_shot import OneShot
from tf_compact.methods.width import Width

#: `{name: class}` of every method; a name stands for the class's defaults.
METHODS = {
    cls.name: cls
    for cls in (Auto, Controller, Budget, OneShot, Gradual, Iterative, Width)
}


def get(method):
    """The method that runs for `compress(method=...)`.

    Args:
        method: a `tfc.methods` object, or a name in `METHODS`, which
            stands for that class built with its defaults (`"oneshot"` is
            `OneShot()`, which then asks for a budget). `Auto` resolves to
            the method it picks.

    Returns:
        A `Method` other than `Auto`.

    Raises:
        ValueError: for an unknown name, or a method whose defaults need
            more (a budget, a width multiplier).
        TypeError: for anything else.

    Example:

    ```python
    get("controller")  # Controller()
    get(Auto(target_macs=0.25))  # OneShot(target_macs=0.25)
    ```
    """
    if isinstance(method, str):
        if method not in METHODS:
            raise invalid(
                "method",
                f"one of {list(METHODS)} or a `tfc.methods` object",
                method,
            )
        method = METHODS[method]()
    if not isinstance(method, Method) or method.name not in METHODS:
        raise TypeError(
            "Invalid value for argument `method`. Expected a method name "
            f"{list(METHODS)} or an object such as "
            f"`tfc.methods.OneShot(target_macs=0.25)`. Received: "
            f"method={method!r}"
        )
    return method.resolve() if isinstance(method, Auto) else method
