"""Properties of the subset and split helpers shared by every loader."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tf_compact.data import splits


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 200),
    fraction=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**16),
)
def test_split_off_partitions_in_order(n, fraction, seed):
    x = np.arange(n) * 10
    y = np.arange(n)
    rng = np.random.default_rng(seed)
    if round(n * fraction) >= n:
        with pytest.raises(ValueError, match="leaves no examples"):
            splits.split_off(x, y, fraction, rng)
        return
    x_a, y_a, x_b, y_b = splits.split_off(x, y, fraction, rng)
    if y_b is None:
        assert round(n * fraction) == 0 and len(y_a) == n
        return
    assert len(y_b) == round(n * fraction)
    assert sorted(np.concatenate([y_a, y_b]).tolist()) == list(range(n))
    assert np.all(np.diff(y_a) > 0) and np.all(np.diff(y_b) > 0)
    np.testing.assert_array_equal(x_a, y_a * 10)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 100), limit=st.integers(1, 150))
def test_subset_keeps_at_most_limit_in_order(n, limit):
    y = np.arange(n)
    x_s, y_s = splits.subset(y * 2, y, limit, np.random.default_rng(0))
    assert len(y_s) == min(n, limit)
    assert np.all(np.diff(y_s) > 0)
    np.testing.assert_array_equal(x_s, y_s * 2)


def test_split_that_leaves_nothing_is_an_error():
    with pytest.raises(ValueError, match="leaves no examples"):
        splits.split_off(
            np.arange(2), np.arange(2), 0.9, np.random.default_rng(0)
        )


def test_same_seed_same_split():
    y = np.arange(50)
    a = splits.split_off(y, y, 0.3, np.random.default_rng(7))[3]
    b = splits.split_off(y, y, 0.3, np.random.default_rng(7))[3]
    np.testing.assert_array_equal(a, b)
