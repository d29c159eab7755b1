"""Training batches that give every replica an example.

`fit` under a `tf.distribute` strategy splits each batch across the
replicas; a last batch with fewer examples than replicas leaves some with
none, and batch normalization over no example writes NaN into its moving
statistics and, through them, into every weight after it. One device
would have trained on those few examples; leaving them out of training
(they are a handful per epoch, different ones each epoch when the data is
reshuffled) keeps every replica's batch real.
"""

import tensorflow as tf


def whole_replica_batches(dataset, strategy):
    """`dataset` without its last batch when that batch holds fewer
    examples than `strategy` has replicas.

    Reads the last batch once (one pass over a dataset that does not skip
    cheaply); keeps the dataset's known length. Datasets of unknown or
    infinite length, and strategies of one replica, are left as they are.

    Args:
        dataset: a batched `tf.data.Dataset` of training data, or anything
            else (returned as it is).
        strategy: a `tf.distribute.Strategy`, or `None`.

    Returns:
        `(dataset, left_out)`: the dataset to train on and the number of
        examples its last batch held when it was left out, else 0.

    Example:

    ```python
    train, left_out = whole_replica_batches(train, strategy)
    ```
    """
    replicas = getattr(strategy, "num_replicas_in_sync", 1)
    if replicas <= 1 or not isinstance(dataset, tf.data.Dataset):
        return dataset, 0
    count = int(dataset.cardinality())
    if count <= 1:
        return dataset, 0
    last = next(iter(dataset.skip(count - 1)))
    size = int(tf.shape(tf.nest.flatten(last)[0])[0])
    if size >= replicas:
        return dataset, 0
    return dataset.take(count - 1), size
