"""recalibrate_batch_norm: moving statistics become the batch average."""

import keras
import numpy as np
import pytest

from tf_compact.sparsity import recalibrate_batch_norm


def _model():
    return keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            keras.layers.Conv2D(3, 1, use_bias=False),
            keras.layers.BatchNormalization(momentum=0.9),
        ]
    )


def test_statistics_are_the_average_over_batches():
    model = _model()
    rng = np.random.default_rng(0)
    batches = [rng.normal(2.0, 3.0, (8, 4, 4, 1)).astype("float32")] * 2
    batches.append(rng.normal(-1.0, 1.0, (8, 4, 4, 1)).astype("float32"))
    kernel = model.layers[0].kernel.numpy()
    bn = model.layers[1]
    assert recalibrate_batch_norm(model, batches) == 3
    feats = [np.tensordot(b, kernel[0, 0], axes=([3], [0])) for b in batches]
    means = [f.mean(axis=(0, 1, 2)) for f in feats]
    np.testing.assert_allclose(
        bn.moving_mean.numpy(), np.mean(means, axis=0), rtol=1e-4
    )
    assert bn.momentum == 0.9
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), kernel)


def test_one_array_is_one_batch_and_empty_data_raises():
    model = _model()
    x = np.ones((4, 4, 4, 1), "float32")
    assert recalibrate_batch_norm(model, x) == 1
    with pytest.raises(ValueError, match="at least one batch"):
        recalibrate_batch_norm(model, [])
