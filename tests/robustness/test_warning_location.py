"""Warnings point at the user's line, not into tf_compact or Keras."""

import os
import warnings

import keras
import numpy as np

import tf_compact as tfc
from tf_compact.internal.user_warning import user_stacklevel
from tf_compact.internal.user_warning import warn


def _caught(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    assert caught
    return caught


def test_a_warning_from_this_file_points_here():
    (w,) = _caught(lambda: warn("here"))
    assert (w.filename, w.category) == (__file__, UserWarning)


def test_the_stack_level_counts_frames_inside_the_library(monkeypatch):
    from tf_compact.internal import user_warning

    def inner():
        return user_stacklevel()

    # With this folder counted as a library, the level passes the two
    # frames here (`inner`, the test) and lands on pytest's caller.
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    monkeypatch.setattr(user_warning, "_library_dirs", lambda: (here,))
    assert inner() == 3
    monkeypatch.setattr(user_warning, "_library_dirs", lambda: ())
    assert inner() == 1


def test_a_deep_library_warning_points_at_the_call():
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(2, 3)(x)
    model = keras.Model(inputs, keras.layers.Flatten()(x))
    data = np.random.default_rng(0).random((8, 4, 4, 1), dtype="float32")
    caught = _caught(
        lambda: tfc.lite.convert(model, "int8", representative_data=data)
    )
    scaled = [w for w in caught if "look scaled already" in str(w.message)]
    assert [w.filename for w in scaled] == [__file__]
