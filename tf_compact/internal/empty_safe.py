"""Means that stay finite over no element.

Under a `tf.distribute` strategy a batch with fewer examples than
replicas leaves some replicas none; a loss averaged over an empty batch
is 0 / 0, and one NaN term makes the logged loss NaN on every replica.
"""

from keras import ops


def mean(x):
    """The mean of every element of `x`, and 0 when `x` is empty.

    Example:

    ```python
    loss = mean(ops.square(teacher_features - student_features))
    ```
    """
    count = ops.cast(ops.size(x), x.dtype)
    return ops.sum(x) / ops.maximum(count, 1.0)
