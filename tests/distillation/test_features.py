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


def _preprocessed_net(width, name):
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    x = keras.layers.Normalization(mean=0.5, variance=0.25, name="norm")(x)
    x = keras.layers.Conv2D(width, 3, strides=2, padding="same", name="c1")(x)
    x = keras.layers.ZeroPadding2D(1, name="pad")(x)
    x = keras.layers.Conv2D(width, 3, strides=2, name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    x = keras.layers.Conv2D(3, 1, name="head")(x)
    return keras.Model(inputs, keras.layers.Flatten(name="flat")(x), name=name)


def test_auto_pairs_skip_input_preprocessing_and_padding_layers():
    teacher, student = _preprocessed_net(4, "t"), _preprocessed_net(2, "s")
    pairs = features.auto_pairs(teacher, student)
    assert pairs == [("c1", "c1"), ("c2", "c2"), ("head", "head")]
    spatial = features.auto_pairs(teacher, student, spatial=True)
    assert spatial == [("c1", "c1"), ("c2", "c2")]


def test_auto_pairs_skip_a_nested_augmentation_model():
    augment = keras.Sequential(
        [keras.layers.RandomFlip(), keras.layers.RandomContrast(0.1)],
        name="augment",
    )
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, strides=2, padding="same", name="c")(
        augment(inputs)
    )
    model = keras.Model(inputs, x)
    assert features.auto_pairs(model, model) == [("c", "c")]


def test_spatial_auto_pairs_explain_when_only_1x1_is_shared():
    inputs = keras.Input((1, 1, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="c")(inputs))
    assert features.auto_pairs(model, model) == [("c", "c")]
    with pytest.raises(ValueError, match="larger than 1x1"):
        features.auto_pairs(model, model, spatial=True)


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


def _with_backbone(width, name):
    """Augmentation, then a nested Functional backbone (as a
    keras.applications one is used), then a softmax head."""
    image = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(width, 3, padding="same", name="inner_a")(image)
    x = keras.layers.Conv2D(
        width, 3, strides=2, padding="same", name="inner_b"
    )(x)
    backbone = keras.Model(image, x, name=f"{name}_backbone")
    inputs = keras.Input((8, 8, 1))
    h = backbone(keras.layers.RandomFlip(name="flip")(inputs))
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(h)
    return keras.Model(inputs, outputs, name=name)


def test_features_of_a_nested_functional_backbone_come_from_the_outer_graph():
    import tf_compact as tfc

    teacher, student = _with_backbone(4, "t"), _with_backbone(2, "s")
    pairs = features.auto_pairs(teacher, student, spatial=True)
    assert pairs == [("t_backbone", "s_backbone")]
    distiller = tfc.Distiller(teacher, student, [tfc.FeatureKD()])
    distiller.compile("adam", "sparse_categorical_crossentropy")
    x, y = models.data(8)
    history = distiller.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    extractor = features.FeatureExtractor(teacher, [None, "t_backbone"], "t")
    out = extractor(x, training=False)
    backbone = teacher.get_layer("t_backbone")
    np.testing.assert_allclose(out["t_backbone"], backbone(x), rtol=1e-5)


def test_a_layer_inside_a_nested_model_is_refused_with_where_it_is():
    teacher = _with_backbone(4, "t")
    with pytest.raises(ValueError) as error:
        features.layer_output(teacher, "inner_a", "teacher")
    message = str(error.value)
    assert "Layer 'inner_a' is inside the nested model 't_backbone'" in message
    assert "tfc.lighten.width(model, 1.0)" in message
    assert message.endswith("Received: 'inner_a'")


def test_auto_pairs_that_find_nothing_name_the_nested_models_hiding_layers():
    # At 2x2 the backbone's output is the only map, and it is 1x1.
    image = keras.Input((2, 2, 1))
    backbone = keras.Model(
        image, keras.layers.Conv2D(4, 2, name="inner")(image), name="trunk"
    )
    inputs = keras.Input((2, 2, 1))
    h = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(h))
    with pytest.raises(ValueError) as error:
        features.auto_pairs(model, model, spatial=True)
    message = str(error.value)
    assert "The layers inside 'trunk' of the teacher, 'trunk' of the" in message
    assert "tfc.lighten.width(model, 1.0)" in message
