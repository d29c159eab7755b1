"""A last training batch smaller than the replicas is left out."""

import types

import numpy as np
import tensorflow as tf

from tf_compact.internal.replica_batches import whole_replica_batches


def _batches(n, batch_size):
    x = np.arange(n, dtype="float32")[:, None]
    y = np.zeros(n, "int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def _sizes(dataset):
    return [int(x.shape[0]) for x, _ in dataset]


def test_a_last_batch_under_the_replica_count_is_left_out():
    two = types.SimpleNamespace(num_replicas_in_sync=2)
    kept, left_out = whole_replica_batches(_batches(65, 64), two)
    assert (_sizes(kept), left_out) == ([64], 1)
    assert int(kept.cardinality()) == 1
    # Two examples give each replica one: kept.
    kept, left_out = whole_replica_batches(_batches(66, 64), two)
    assert (_sizes(kept), left_out) == ([64, 2], 0)
    eight = types.SimpleNamespace(num_replicas_in_sync=8)
    assert whole_replica_batches(_batches(71, 64), eight)[1] == 7


def test_one_replica_unknown_lengths_and_arrays_are_left_alone():
    data = _batches(65, 64)
    one = types.SimpleNamespace(num_replicas_in_sync=1)
    assert whole_replica_batches(data, one) == (data, 0)
    assert whole_replica_batches(data, None) == (data, 0)
    two = types.SimpleNamespace(num_replicas_in_sync=2)
    unknown = data.filter(lambda x, y: True)
    assert whole_replica_batches(unknown, two) == (unknown, 0)
    arrays = (np.zeros((3, 1)), np.zeros(3))
    assert whole_replica_batches(arrays, two) == (arrays, 0)
