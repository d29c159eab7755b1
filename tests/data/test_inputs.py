"""`(x, y)` arrays as datasets: training ones reshuffled like `fit` does."""

import keras
import numpy as np
import pytest

from tf_compact.data import inputs


def _sorted_arrays(n=48):
    x = np.arange(n, dtype="float32").reshape(n, 1)
    return x, (np.arange(n) // (n // 3)).astype("int32")


def _epoch(dataset):
    batches = [(np.asarray(x), np.asarray(y)) for x, y in dataset]
    return np.concatenate([x for x, _ in batches])[:, 0], batches


def test_training_arrays_are_reshuffled_every_epoch():
    x, y = _sorted_arrays()
    dataset = inputs.as_dataset("train_data", (x, y), 8, shuffle=True)
    first, batches = _epoch(dataset)
    second, _ = _epoch(dataset)
    # Every example once per epoch, with its own label, in a new order.
    np.testing.assert_array_equal(np.sort(first), x[:, 0])
    np.testing.assert_array_equal(np.sort(second), x[:, 0])
    assert not np.array_equal(first, x[:, 0])
    assert not np.array_equal(first, second)
    for bx, by in batches:
        np.testing.assert_array_equal(by, y[bx[:, 0].astype(int)])
    assert [len(bx) for bx, _ in batches] == [8] * 6
    # Same batches, element spec and signature as the ordered dataset.
    ordered = inputs.as_dataset("train_data", (x, y), 8)
    assert dataset.element_spec == ordered.element_spec
    assert inputs.signature(dataset) == inputs.signature(ordered)


def test_the_order_follows_the_global_seed():
    x, y = _sorted_arrays()
    orders = []
    for _ in range(2):
        keras.utils.set_random_seed(3)
        dataset = inputs.as_dataset("train_data", (x, y), 8, shuffle=True)
        orders.append([_epoch(dataset)[0] for _ in range(2)])
    np.testing.assert_array_equal(orders[0], orders[1])


def test_evaluation_arrays_keep_their_order():
    x, y = _sorted_arrays()
    dataset = inputs.as_dataset("test_data", (x, y), 8)
    np.testing.assert_array_equal(_epoch(dataset)[0], x[:, 0])


def test_empty_training_arrays_are_refused_by_name():
    empty = (np.zeros((0, 1), "float32"), np.zeros((0,), "int32"))
    dataset = inputs.as_dataset("train_data", empty, shuffle=True)
    with pytest.raises(ValueError, match="`train_data`.*empty dataset"):
        inputs.check_not_empty("train_data", dataset)
