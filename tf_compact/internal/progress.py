"""Progress of long library work: a line saying what runs, then a bar.

The sensitivity table of `scope="sensitivity"` and a measured latency
table run for minutes on large models; with `verbose=1` each prints what
it measures and a `keras.utils.Progbar` with the time left.
"""

import keras


class _Silent:
    """A progress bar that shows nothing."""

    def update(self, current):
        del current


def progress_bar(total, verbose, what, unit):
    """A bar over `total` steps of `what`, or a silent stand-in.

    Args:
        total: Number of steps.
        verbose: `0` (or `False`) shows nothing; `1` prints `what` and a
            bar with the time left.
        what: What runs, e.g. `"Sensitivity of 53 channel groups"`.
        unit: The name of one step, e.g. `"group"`.

    Returns:
        An object with `update(steps_done)`.

    Example:

    ```python
    bar = progress_bar(len(groups), verbose, "Sensitivity", "group")
    for i, group in enumerate(groups):
        measure(group)
        bar.update(i + 1)
    ```
    """
    if not verbose or total <= 0:
        return _Silent()
    print(f"{what}:", flush=True)
    return keras.utils.Progbar(total, verbose=1, unit_name=unit)
