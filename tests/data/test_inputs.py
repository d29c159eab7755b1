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


def _two_inputs(n=12):
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(n, 4, 4, 1)).astype("float32")
    meta = rng.uniform(size=(n, 3)).astype("float32")
    return image, meta, (np.arange(n) % 3).astype("int32")


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("form", ["tuple", "list", "dict"])
def test_arrays_of_a_model_with_two_inputs(form, shuffle):
    image, meta, y = _two_inputs()
    x = {
        "tuple": (image, meta),
        "list": [image, meta],
        "dict": {"image": image, "meta": meta},
    }[form]
    data = [x, y] if form == "list" else (x, y)
    assert inputs.is_array_pair(data)
    dataset = inputs.as_dataset("train_data", data, 4, shuffle=shuffle)
    batches = list(dataset)
    assert len(batches) == 3
    bx, by = batches[0]
    if form == "dict":
        first, second = bx["image"], bx["meta"]
    else:
        assert isinstance(bx, tuple) and len(bx) == 2
        first, second = bx
    assert first.shape == (4, 4, 4, 1) and second.shape == (4, 3)
    # Each example keeps its own inputs and label.
    rows = [int(np.argmin(np.abs(meta - m).sum(1))) for m in np.asarray(second)]
    np.testing.assert_array_equal(image[rows], first)
    np.testing.assert_array_equal(y[rows], by)


def test_arrays_with_sample_weights():
    x, y = _sorted_arrays(12)
    weights = np.linspace(0.1, 1.2, 12).astype("float32")
    dataset = inputs.as_dataset("train_data", (x, y, weights), 4, shuffle=True)
    for bx, by, bw in dataset:
        rows = np.asarray(bx)[:, 0].astype(int)
        np.testing.assert_array_equal(by, y[rows])
        np.testing.assert_allclose(bw, weights[rows])


def test_a_list_of_batches_is_not_read_as_arrays():
    x, y = _sorted_arrays(8)
    batches = [(x[:4], y[:4]), (x[4:], y[4:])]
    assert not inputs.is_array_pair(batches)
    assert inputs.as_dataset("train_data", batches) is batches


def test_parts_of_other_lengths_are_refused_by_name():
    image, meta, y = _two_inputs()
    with pytest.raises(ValueError, match=r"`val_data`.*x lengths \[12, 11\]"):
        inputs.as_dataset("val_data", ((image, meta[:11]), y))
    with pytest.raises(ValueError, match=r"sample_weight lengths \[5\]"):
        inputs.as_dataset("val_data", (image, y, np.ones(5)))


def test_batches_given_as_sequences_are_not_read_as_arrays():
    x, y = _sorted_arrays(8)
    for batches in (
        ((x[:4], y[:4]), (x[4:], y[4:])),
        [[x[:4], y[:4]], [x[4:], y[4:]]],
    ):
        assert not inputs.is_array_pair(batches)
        assert inputs.as_dataset("train_data", batches) is batches
