"""Warnings attributed to the user's line, not to the library's.

A warning raised deep inside tf_compact (or inside a Keras `fit` that
calls one of its callbacks) names the file and line it points at. With a
fixed `stacklevel` that line depends on how deep the call happens to be,
and is often inside tf_compact or Keras; `warn` walks the stack to the
first frame outside tf_compact, Keras, TensorFlow and absl (whose
`app.run` starts a command) instead.
"""

import os
import sys
import warnings

#: Packages whose frames a warning is never attributed to.
LIBRARIES = ("tf_compact", "keras", "tensorflow", "absl")


def _library_dirs():
    dirs = []
    for name in LIBRARIES:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            dirs.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    return tuple(dirs)


def user_stacklevel(depth=1):
    """The `stacklevel` that makes `warnings.warn`, called by the caller
    of this function, point at the first frame outside tf_compact, Keras
    and TensorFlow, searching from `depth` frames up (1: the caller
    itself); `depth` when every frame is inside them.

    Example:

    ```python
    warnings.warn("...", stacklevel=user_stacklevel())
    ```
    """
    dirs = _library_dirs()
    frame = sys._getframe(depth)
    level = depth
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith(dirs):
            return level
        frame = frame.f_back
        level += 1
    return depth


def warn(message, category=UserWarning):
    """`warnings.warn(message, category)` pointing at the user's code.

    Args:
        message: The warning's text.
        category: A `Warning` subclass.

    Example:

    ```python
    from tf_compact.internal.user_warning import warn

    warn("tfc.prune: nothing to prune; the model is returned unchanged.")
    ```
    """
    warnings.warn(message, category, stacklevel=user_stacklevel(2))
