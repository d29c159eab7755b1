"""Reference models: shapes, names, sizes, width multiplier, training."""

import functools
import re

import keras
import numpy as np
import pytest

from tf_compact import models

SMALL = {
    "resnet20": {"input_shape": (16, 16, 3)},
    "vgg": {"input_shape": (28, 28, 1)},
    "mobilenet_v2": {"input_shape": (32, 32, 3)},
    "conv1d_net": {"input_shape": (128, 3), "num_classes": 6},
    "small_cnn": {"input_shape": (28, 28, 1)},
}
GENERIC_NAME = re.compile(
    r"^(conv\d?d|dense|batch_normalization|re_lu|add|max_pooling\dd|"
    r"depthwise_conv2d|flatten|global_average_pooling\dd|input_layer)(_\d+)?$"
)


@functools.cache
def _model(name, width_multiplier=1.0):
    """Builds each read-only test model once (tests must not train it)."""
    return models.get(name, width_multiplier=width_multiplier, **SMALL[name])


def _batch(shape, n=2):
    return np.random.default_rng(0).random((n, *shape)).astype("float32")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_functional_with_meaningful_unique_names(name):
    kwargs = SMALL[name]
    model = _model(name)
    assert type(model).__name__ == "Functional"
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert not [n for n in names if GENERIC_NAME.match(n)]
    out = model(_batch(kwargs["input_shape"]))
    assert out.shape == (2, kwargs.get("num_classes", 10))
    assert model.layers[-1].name == "logits"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_width_multiplier_shrinks_the_model(name):
    full, half = _model(name), _model(name, 0.5)
    assert half.count_params() < 0.6 * full.count_params()
    assert half.name == f"{full.name}_w0_5"


def test_resnet20_size_and_structure():
    model = models.resnet(depth=20)
    assert 0.26e6 < model.count_params() < 0.28e6
    convs = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
    ]
    assert len(convs) == 1 + 18 + 2
    shortcuts = sorted(n.name for n in convs if "shortcut" in n.name)
    assert shortcuts == [
        "stage2_block0_shortcut_conv",
        "stage3_block0_shortcut_conv",
    ]
    assert model.get_layer("stage3_block2_out").output.shape == (None, 8, 8, 64)
    assert model.name == "resnet20"


def test_resnet_depths_and_custom_input():
    assert (
        models.get("resnet32").count_params() > models.resnet(20).count_params()
    )
    model = models.resnet(56, input_shape=(28, 28, 1), num_classes=100)
    adds = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Add)
    ]
    assert len(adds) == 27
    assert model.output.shape == (None, 100)
    with pytest.raises(ValueError, match="depth=21"):
        models.resnet(depth=21)


def test_vgg_has_flatten_dense_dense_head():
    model = models.vgg(blocks=((8,), (16, 16)), dense_units=32)
    tail = [type(layer).__name__ for layer in model.layers[-4:]]
    assert tail == ["Flatten", "Dense", "ReLU", "Dense"]
    assert model.get_layer("head_flatten").output.shape == (None, 7 * 7 * 16)
    assert model.get_layer("fc1").units == 32
    with pytest.raises(ValueError, match="input_shape"):
        models.vgg(input_shape=(4, 4, 1))


def test_mobilenet_v2_has_inverted_residuals():
    model = models.mobilenet_v2()
    adds = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Add)
    ]
    assert len(adds) == 10
    assert model.get_layer("block16_project").filters == 320
    assert model.get_layer("head_conv").output.shape == (None, 4, 4, 1280)
    small = models.mobilenet_v2(width_multiplier=0.35)
    assert all(
        layer.filters % 8 == 0
        for layer in small.layers
        if isinstance(layer, keras.layers.Conv2D)
    )


def test_conv1d_net_for_signal_windows():
    model = models.conv1d_net(
        input_shape=(64, 1), num_classes=3, filters=(8, 16)
    )
    assert model.get_layer("block1_pool").output.shape == (None, 32, 8)
    assert model.output.shape == (None, 3)
    with pytest.raises(ValueError, match="kernel_size=0"):
        models.conv1d_net(kernel_size=0)


def test_softmax_output_is_named_predictions():
    model = models.small_cnn(classifier_activation="softmax")
    probs = model(_batch((28, 28, 1))).numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.layers[-1].name == "predictions"


@pytest.mark.parametrize("name", ["small_cnn", "resnet20"])
def test_one_fit_step_changes_the_weights(name):
    kwargs = SMALL[name]
    model = models.get(name, width_multiplier=0.5, **kwargs)
    model.compile(
        keras.optimizers.SGD(0.1),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x = _batch(kwargs["input_shape"], n=8)
    y = np.arange(8) % 10
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [
        not np.allclose(a, b) for a, b in zip(before, model.get_weights())
    ]
    assert any(changed)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_config_round_trip_reproduces_outputs(name):
    model = _model(name, 0.5)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = _batch(SMALL[name]["input_shape"])
    np.testing.assert_allclose(clone(x), model(x), rtol=1e-5, atol=1e-5)
    assert [layer.name for layer in clone.layers] == [
        layer.name for layer in model.layers
    ]


def test_keras_file_round_trip(tmp_path):
    model = models.small_cnn(width_multiplier=0.5)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = _batch((28, 28, 1))
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"width_multiplier": 0.0}, ValueError, "width_multiplier=0.0"),
        ({"width_multiplier": "1"}, TypeError, "width_multiplier='1'"),
        ({"num_classes": 1}, ValueError, "num_classes=1"),
        ({"input_shape": (28, 28)}, ValueError, "input_shape"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        models.small_cnn(**kwargs)


def test_get_rejects_unknown_names():
    with pytest.raises(ValueError, match="name='resnet18'"):
        models.get("resnet18")
    assert models.get("ResNet-20").name == "resnet20"
    assert models.get("small_cnn", name="mine").name == "mine"
