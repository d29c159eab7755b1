"""keras.applications CNN families: graph builds and slims correctly."""

import keras
import numpy as np
import pytest

from tests.graph import checks

A = keras.applications
SMALL = (32, 32, 3)
COMMON = {"weights": None, "classes": 10, "classifier_activation": None}

FAST = {
    "MobileNet": lambda: A.MobileNet(input_shape=SMALL, alpha=0.25, **COMMON),
    "MobileNetV2": lambda: A.MobileNetV2(
        input_shape=SMALL, alpha=0.35, **COMMON
    ),
    "MobileNetV3Small": lambda: A.MobileNetV3Small(
        input_shape=SMALL, minimalistic=True, **COMMON
    ),
}

SLOW = {
    "MobileNetV3Large": lambda: A.MobileNetV3Large(input_shape=SMALL, **COMMON),
    "ResNet50": lambda: A.ResNet50(input_shape=SMALL, **COMMON),
    "ResNet50V2": lambda: A.ResNet50V2(input_shape=SMALL, **COMMON),
    "EfficientNetB0": lambda: A.EfficientNetB0(input_shape=SMALL, **COMMON),
    "EfficientNetV2B0": lambda: A.EfficientNetV2B0(input_shape=SMALL, **COMMON),
    "DenseNet121": lambda: A.DenseNet121(input_shape=SMALL, **COMMON),
    "Xception": lambda: A.Xception(input_shape=(71, 71, 3), **COMMON),
    "InceptionV3": lambda: A.InceptionV3(input_shape=(75, 75, 3), **COMMON),
    "InceptionResNetV2": lambda: A.InceptionResNetV2(
        input_shape=(75, 75, 3), **COMMON
    ),
    "NASNetMobile": lambda: A.NASNetMobile(input_shape=SMALL, **COMMON),
    "ConvNeXtTiny": lambda: A.ConvNeXtTiny(input_shape=SMALL, **COMMON),
    "VGG16": lambda: A.VGG16(input_shape=SMALL, **COMMON),
}


def _wake_layer_scales(model):
    # ConvNeXt's LayerScale starts at 1e-6: its blocks would hide errors.
    for layer in model._flatten_layers():
        if type(layer).__name__ == "LayerScale":
            for w in layer.weights:
                w.assign(np.ones(w.shape, w.dtype))


def _check_family(build):
    model = build()
    _wake_layer_scales(model)
    shape = (2,) + tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(0).uniform(0, 255, size=shape)
    graph, masks, small = checks.slim_and_check(model, x.astype("float32"))
    assert graph.groups
    assert small.count_params() < model.count_params()


@pytest.mark.parametrize("name", sorted(FAST))
def test_small_families(name):
    _check_family(FAST[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_every_family(name):
    _check_family(SLOW[name])
