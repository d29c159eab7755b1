"""Errors raised by the dataset loaders."""


class DatasetNotFoundError(FileNotFoundError):
    """No source could provide the requested dataset.

    The message lists every source that was tried and why each one failed,
    so the user can see which files or packages to provide.

    Args:
        name: The dataset that was requested.
        attempts: A list of `(source, reason)` pairs, one per source tried.
        hint: Optional advice appended to the message. Defaults to `None`.

    Example:

    ```python
    try:
        bundle = tf_compact.data.mnist()
    except tf_compact.data.DatasetNotFoundError as e:
        print(e.attempts)
    ```
    """

    def __init__(self, name, attempts, hint=None):
        self.name = name
        self.attempts = list(attempts)
        self.hint = hint
        lines = [f"Could not load dataset `{name}`. Sources tried:"]
        lines += [f"  - {src}: {why}" for src, why in self.attempts]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))

    def __reduce__(self):
        return (type(self), (self.name, self.attempts, self.hint))


class SourceUnavailable(Exception):
    """One source cannot provide a dataset; carries the reason as text."""
