"""One pass over a dataset before `compress` trains on it.

A `tf.data.Dataset` says its shapes and its number of batches but not its
content, and its first batch says little about the rest (a dataset sorted
by class shows one class). `read_through` reads it once: every label, for
the label checks, and a digest of the examples that does not depend on
their order, so a resumed run with other data of the same shapes is told
apart from one with the same data reshuffled.
"""

import hashlib

import numpy as np
import tensorflow as tf

_MODULUS = 2**64


def read_through(dataset, with_inputs=True):
    """Reads `dataset` once: its labels and a digest of its examples.

    Args:
        dataset: a finite, batched `tf.data.Dataset` of `(x, y)` (or
            `(x, y, sample_weight)`) batches.
        with_inputs: whether the digest covers the inputs too, or only
            the labels (for training data whose pipeline may augment at
            random, so its inputs differ on every pass). Defaults to
            `True`.

    Returns:
        `(labels, digest)`: every label concatenated in one NumPy array
        (`None` for dict labels or batches without labels), and a
        16-digit hex digest, the same for the same examples in any order.

    Example:

    ```python
    labels, digest = read_through(test_ds)
    ```
    """
    total, labels, readable = 0, [], True
    for batch in dataset:
        if not isinstance(batch, tuple) or len(batch) < 2:
            return None, None
        y = batch[1]
        readable = readable and not isinstance(y, dict)
        if readable:
            labels.append(np.asarray(y))
        parts = tf.nest.flatten(batch[:2] if with_inputs else batch[1])
        total = (total + _sum_of_example_hashes(parts)) % _MODULUS
    joined = np.concatenate(labels) if readable and labels else None
    return joined, f"{total:016x}"


def _sum_of_example_hashes(parts):
    """Sum over the batch's examples of a 64-bit hash of each one."""
    arrays = [np.ascontiguousarray(np.asarray(p)) for p in parts]
    total = 0
    for i in range(len(arrays[0]) if arrays else 0):
        digest = hashlib.blake2b(digest_size=8)
        for array in arrays:
            digest.update(array[i].tobytes())
        total += int.from_bytes(digest.digest(), "little")
    return total
