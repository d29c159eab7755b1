"""State a layer derives from its weights survives every copy the library
makes: an adapted `Normalization` normalizes with its own statistics after
pruning, masking, cloning, the float32 and batch-1 rebuilds of conversion,
and the lighten transforms (its weights alone are copied; the mean and
variance it divides by are recomputed from them)."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tf_compact.internal import keras_compat
from tf_compact.lighten import _clone
from tf_compact.lite import edgetpu_target
from tf_compact.lite import precision


def _pixels(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, (n, 12, 12, 3)).astype("float32")


def _net(policy=None):
    """Raw pixels into an adapted Normalization (mean ~127, std ~74)."""
    if policy is not None:
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(policy)
    try:
        norm = keras.layers.Normalization(name="norm")
        norm.adapt(_pixels(seed=1))
        inputs = keras.Input((12, 12, 3), name="pixels")
        h = norm(inputs)
        h = keras.layers.Conv2D(8, 3, activation="relu", name="c1")(h)
        h = keras.layers.Conv2D(8, 3, activation="relu", name="c2")(h)
        h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
        out = keras.layers.Dense(4, name="fc", dtype="float32")(h)
        return keras.Model(inputs, out, name="adapted")
    finally:
        if policy is not None:
            keras.mixed_precision.set_global_policy(previous)


def _out(model, x):
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))


@pytest.fixture(scope="module")
def model():
    return _net()


def test_prune_keeping_every_channel_is_the_same_function(model):
    x = _pixels(8, seed=2)
    small = tfc.prune(model, ratio=0.0)
    np.testing.assert_allclose(_out(small, x), _out(model, x), atol=1e-5)


def test_slim_matches_masking_and_masking_keeps_the_statistics(model):
    x = _pixels(8, seed=3)
    graph = tfc.ChannelGraph(model)
    masks = {g.name: np.arange(g.size) % 2 == 0 for g in graph.groups}
    masked = tfc.apply_masks(model, masks, graph=graph)
    small = tfc.slim(model, masks, graph=graph)
    np.testing.assert_allclose(_out(small, x), _out(masked, x), atol=1e-4)
    unmasked = tfc.apply_masks(model, {}, graph=graph)
    np.testing.assert_allclose(_out(unmasked, x), _out(model, x), atol=1e-5)


def test_copies_and_rebuilds_for_conversion_keep_the_statistics(model):
    x = _pixels(1, seed=4)
    expected = _out(model, x)
    copies = {
        "copy_with_weights": keras_compat.copy_with_weights(model),
        "static batch": edgetpu_target.static_batch_model(model),
        "lighten clone": _clone.clone_replacing(model, lambda layer: None)[0],
    }
    for name, copy in copies.items():
        np.testing.assert_allclose(
            _out(copy, x), expected, atol=1e-5, err_msg=name
        )


def test_mixed_precision_model_converts_with_its_statistics():
    mixed = _net("mixed_float16")
    x = _pixels(8, seed=5)
    as_float32, _ = precision.float32_model(mixed)
    np.testing.assert_allclose(
        _out(as_float32, x), _out(mixed, x), rtol=0.02, atol=0.02
    )
    tflite = tfc.lite.convert(mixed)
    got = tfc.lite.predict(tflite, x)
    np.testing.assert_allclose(got, _out(mixed, x), rtol=0.02, atol=0.02)
