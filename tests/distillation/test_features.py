"""Feature pairing, extraction and adapters."""

import keras
import numpy as np
import pytest

from tests.distillation import models
from tf_compact.distillation import adapters
from tf_compact.distillation import features


def test_auto_pairs_take_the_last_layer_of_each_resolution():
    teacher = models.conv_net(8, "teacher")
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, padding="same", name="a")(inputs)
    x = keras.layers.Conv2D(2, 3, padding="same", name="b")(x)
    x = keras.layers.Conv2D(2, 3, strides=2, padding="same", name="down")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    student = keras.Model(inputs, keras.layers.Dense(3)(x))
    pairs = features.auto_pairs(teacher, student)
    assert pairs == [("r1", "b"), ("r2", "down")]


def test_extractor_returns_output_and_features_in_one_call():
    model = models.conv_net(4, "m")
    extractor = features.FeatureExtractor(model, [None, "r1", "r1"], "m")
    assert extractor.names == ["r1"]
    x, _ = models.data(2)
    out = extractor(x, training=False)
    np.testing.assert_allclose(out[None], model(x), rtol=1e-6)
    assert tuple(out["r1"].shape) == (2, 8, 8, 4)


def test_extractor_without_names_calls_the_model():
    model = models.conv_net(4, "m")
    extractor = features.FeatureExtractor(model, [None], "m")
    assert extractor.graph is None


@pytest.mark.parametrize(
    "t_shape, s_shape, kernel, resize",
    [
        ((None, 8, 8, 16), (None, 4, 4, 4), (1, 1, 4, 16), (8, 8)),
        ((None, 4, 4, 8), (None, 4, 4, 8), None, None),
        ((None, 32), (None, 8), (8, 32), None),
    ],
)
def test_hint_adapter_maps_student_to_teacher_shape(
    t_shape, s_shape, kernel, resize
):
    adapter = adapters.HintAdapter(t_shape, s_shape)
    adapter.build(s_shape)
    got = None if adapter.proj is None else tuple(adapter.proj.kernel.shape)
    assert got == kernel
    assert adapter.resize_to == resize
    x = np.ones((2,) + s_shape[1:], "float32")
    assert tuple(adapter(x).shape) == (2,) + t_shape[1:]


def test_hint_adapter_rejects_unadaptable_shapes():
    with pytest.raises(ValueError, match="same rank"):
        adapters.HintAdapter((None, 4, 4, 8), (None, 8))
    with pytest.raises(ValueError, match="non-channel axis"):
        adapters.HintAdapter((None, 5, 8), (None, 4, 8))
