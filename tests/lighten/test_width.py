"""Tests for `tf_compact.lighten.width`."""

import keras
import numpy as np
import pytest

from tests.lighten import helpers
from tf_compact import lighten
from tf_compact.lighten.width import kept_channels


def _widths(model):
    return {
        layer.name: getattr(layer, "filters", getattr(layer, "units", None))
        for layer in model.layers
        if hasattr(layer, "kernel")
    }


def _residual():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    y = keras.layers.Conv2D(16, 3, padding="same", name="inner")(x)
    y = keras.layers.Conv2D(8, 3, padding="same", name="outer")(y)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))


@pytest.mark.parametrize(
    "size, multiplier, round_to, min_channels, expected",
    [
        (64, 0.5, 1, 1, 32),
        (10, 0.25, 1, 1, 3),
        (10, 0.25, 8, 1, 8),
        (12, 0.5, 8, 1, 8),
        (6, 0.1, 1, 4, 4),
        (6, 1.0, 8, 1, 6),
        (3, 0.01, 1, 1, 1),
    ],
)
def test_kept_channels(size, multiplier, round_to, min_channels, expected):
    assert kept_channels(size, multiplier, round_to, min_channels) == expected


def test_coupled_channels_stay_consistent():
    student = lighten.width(_residual(), 0.5)
    widths = _widths(student)
    assert widths["stem"] == widths["outer"] == 4
    assert widths["inner"] == 8
    assert widths["logits"] == 4
    x = helpers.images((8, 8, 3))
    assert student(x).shape == (4, 4)


def test_rounding_and_fewer_params():
    model = helpers.vgg_like()
    student = lighten.width(model, 0.3, round_to=4)
    widths = _widths(student)
    assert all(widths[n] % 4 == 0 for n in ("conv1", "conv2", "fc1"))
    assert widths["logits"] == 3
    assert student.count_params() < model.count_params()


def test_first_selection_copies_the_first_channels():
    model = helpers.vgg_like()
    student = lighten.width(model, 0.5)
    teacher_kernel = model.get_layer("conv1").kernel.numpy()
    student_kernel = student.get_layer("conv1").kernel.numpy()
    np.testing.assert_array_equal(student_kernel, teacher_kernel[..., :3])


def test_norm_selection_keeps_the_largest_channels():
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 1, use_bias=False, name="c")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="d")(x))
    scale = np.array([0.1, 3.0, 0.2, 2.0], "float32")
    model.get_layer("c").kernel.assign(np.ones((1, 1, 2, 4)) * scale)
    for selection in ("l1", "l2"):
        student = lighten.width(model, 0.5, selection=selection)
        kept = student.get_layer("c").kernel.numpy()[0, 0, 0]
        np.testing.assert_allclose(sorted(kept), [2.0, 3.0])


def test_reinitialize_gives_fresh_weights():
    model = helpers.vgg_like()
    kept = lighten.width(model, 0.5)
    fresh = lighten.width(model, 0.5, reinitialize=True)
    assert _widths(kept) == _widths(fresh)
    assert not np.allclose(
        kept.get_layer("conv2").kernel.numpy(),
        fresh.get_layer("conv2").kernel.numpy(),
    )


def test_input_model_is_not_mutated():
    model = _residual()
    config, weights = model.get_config(), helpers.weights_of(model)
    lighten.width(model, 0.5, selection="l2")
    helpers.assert_unchanged(model, config, weights)


def test_bad_arguments():
    model = helpers.vgg_like()
    with pytest.raises(ValueError, match="multiplier=1.5"):
        lighten.width(model, 1.5)
    with pytest.raises(ValueError, match="multiplier=0"):
        lighten.width(model, 0)
    with pytest.raises(TypeError, match="multiplier='half'"):
        lighten.width(model, "half")
    with pytest.raises(ValueError, match="round_to=0"):
        lighten.width(model, 0.5, round_to=0)
    with pytest.raises(ValueError, match="selection='random'"):
        lighten.width(model, 0.5, selection="random")


def test_student_saves_and_reloads(tmp_path):
    student = lighten.width(_residual(), 0.5)
    x = helpers.images((8, 8, 3))
    reloaded = helpers.save_and_reload(student, tmp_path)
    np.testing.assert_allclose(reloaded(x), student(x), atol=1e-6)
