"""Published MACs of reference architectures, and Keras's param counts."""

import keras
import pytest

import tf_compact as tfc


def _check_params(model, prof):
    trainable = sum(w.numpy().size for w in model.trainable_weights)
    assert prof.params == model.count_params()
    assert prof.trainable_params == trainable
    assert not prof.unknown_layers


def test_mobilenet_v1_matches_published_569m_macs():
    model = keras.applications.MobileNet(weights=None, alpha=1.0)
    prof = tfc.profile(model)
    assert prof.macs == pytest.approx(569e6, rel=0.03)
    _check_params(model, prof)


def test_mobilenet_v2_matches_published_300m_macs():
    model = keras.applications.MobileNetV2(weights=None, alpha=1.0)
    prof = tfc.profile(model)
    assert prof.macs == pytest.approx(300e6, rel=0.03)
    _check_params(model, prof)


def test_resnet50_macs_between_3_8g_and_4_15g():
    model = keras.applications.ResNet50(weights=None)
    prof = tfc.profile(model)
    assert 3.8e9 <= prof.macs <= 4.15e9
    _check_params(model, prof)
    # Batch size scales the work linearly.
    assert tfc.profile(model, batch_size=2).macs == 2 * prof.macs


def test_mobilenet_v3_small_at_224_matches_published_56m_macs():
    # Built with free spatial dims: `input_shape` resolves them, and the
    # graph's keras.ops calls (hard-swish, SE multiply) must be known.
    model = keras.applications.MobileNetV3Small(weights=None)
    prof = tfc.profile(model, input_shape=(224, 224, 3))
    assert prof.macs == pytest.approx(56e6, rel=0.03)
    _check_params(model, prof)
