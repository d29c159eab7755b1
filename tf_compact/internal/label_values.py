"""What classification labels mean, read from their values.

A classifier output of width `W` (per example, or per pixel or step) is
scored against one of four label formats:

- `"binary"`: a one-unit output, labels in [0, 1];
- `"indices"`: class ids, whole numbers in [0, W - 1], one per position
  (shape `(n, ...)` or `(n, ..., 1)`);
- `"rows"`: one-hot rows, or class probabilities summing to 1 (shape
  `(n, ..., W)`), scored by their argmax;
- `"multi_hot"`: rows of 0/1 that do not all sum to 1 (multi-label), scored
  unit by unit.

Anything else (box coordinates, pixel intensities, rows outside [0, 1]) is
not a classification label, and an accuracy of it would mean nothing:
`label_format` refuses it.
"""

import numpy as np

BINARY = "binary"
INDICES = "indices"
ROWS = "rows"
MULTI_HOT = "multi_hot"

_ROW_SUM_TOLERANCE = 1e-3


class LabelValueError(ValueError):
    """Labels whose values are not classification labels for an output.

    The message says what was expected and what was received, without the
    argument's name: callers put it in their own message.
    """


def expected_labels(width, out_rank=2):
    """What labels an output of `width` units takes, in words."""
    positions = "" if out_rank <= 2 else ", ..."
    if width == 1:
        return f"binary labels in [0, 1] of shape (n{positions},)"
    return (
        f"class indices in [0, {width - 1}] of shape (n{positions},) or "
        f"(n{positions}, 1), one-hot (or class-probability) rows of shape "
        f"(n{positions}, {width}), or multi-hot 0/1 rows of that shape"
    )


def label_format(y, width, out_rank=2):
    """The format of labels `y` for an output `width` units wide.

    Args:
        y: The labels, batch first (a numpy array).
        width: The output's last dimension.
        out_rank: The output's rank, batch included (2 for one prediction
            per example, 4 for one per pixel). Defaults to `2`.

    Returns:
        `"binary"`, `"indices"`, `"rows"` or `"multi_hot"` (see the module
        docstring); `"indices"` for labels with no element.

    Raises:
        LabelValueError: If the shape fits no format, class indices are
            not whole numbers or lie outside the output, or rows hold
            values outside [0, 1] or fractions that do not sum to 1.

    Example:

    ```python
    label_format(np.array([0, 2, 1]), width=3)  # "indices"
    label_format(np.eye(3), width=3)  # "rows"
    label_format(boxes, width=4)  # LabelValueError: regression targets
    ```
    """
    y = np.asarray(y)
    shape = tuple(y.shape)
    per_position = len(shape) == out_rank - 1
    last = shape[-1] if len(shape) == out_rank else None
    if not (per_position or last in (1, width)):
        raise LabelValueError(
            f"expected {expected_labels(width, out_rank)}. Received: labels "
            f"of shape {shape}"
        )
    if not y.size:
        return INDICES
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise LabelValueError(
            f"expected numeric labels. Received: labels of dtype {y.dtype}"
        )
    y = y.astype(np.float64)
    low, high = float(y.min()), float(y.max())
    if width == 1:
        if low < 0 or high > 1:
            raise LabelValueError(
                f"expected {expected_labels(1, out_rank)}. Received: labels "
                f"of shape {shape} with values in [{low:g}, {high:g}]"
            )
        return BINARY
    if per_position or last == 1:
        if low < 0 or high > width - 1 or not np.all(y == np.round(y)):
            raise LabelValueError(
                f"expected class indices (whole numbers) in [0, "
                f"{width - 1}]. Received: labels of shape {shape} with "
                f"values in [{low:g}, {high:g}]{_whole(y)}"
            )
        return INDICES
    return _row_format(y, shape, low, high)


def _whole(y):
    return "" if np.all(y == np.round(y)) else ", not all whole numbers"


def _row_format(y, shape, low, high):
    sums = y.sum(axis=-1)
    if low >= 0 and high <= 1:
        if np.all(np.abs(sums - 1.0) <= _ROW_SUM_TOLERANCE):
            return ROWS
        if np.all((y == 0) | (y == 1)):
            return MULTI_HOT
    raise LabelValueError(
        "expected one-hot rows (or class probabilities summing to 1) or "
        "multi-hot rows of 0 and 1: these look like regression targets, "
        "which have no accuracy. Received: labels of shape "
        f"{shape} with values in [{low:g}, {high:g}] and rows summing to "
        f"[{float(sums.min()):g}, {float(sums.max()):g}]"
    )
