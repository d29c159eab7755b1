"""Ctrl-C in a command: one line saying what is kept, and exit status 130.

```python
@interrupts.exits_on_interrupt(lambda: "Interrupted; rerun to resume.")
def main(argv):
    ...
```
"""

import functools
import sys

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT), as a
#: shell reports it.
STATUS = 130


def exits_on_interrupt(message):
    """Decorates a command's `main`: Ctrl-C prints one line and exits 130.

    Args:
        message: a function of no argument returning the line to print
            (called after the interrupt, so it may read flag values).

    Returns:
        The decorator.
    """

    def decorate(main):
        @functools.wraps(main)
        def wrapped(argv):
            try:
                return main(argv)
            except KeyboardInterrupt:
                print(f"\n{message()}", file=sys.stderr)
                sys.exit(STATUS)

        return wrapped

    return decorate
