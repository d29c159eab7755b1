"""GroupLasso and BNGammaL1: values, strength variable, proximal steps."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.sparsity import tiny_models
from tf_compact.sparsity import BNGammaL1
from tf_compact.sparsity import GroupLasso


def _bound(penalty, **kwargs):
    model = tiny_models.conv_model(**kwargs)
    penalty.bind(model)
    return model


def _expected_norms(model, consumers=False):
    """Per-channel norms and weight counts, computed with numpy."""
    graph = tfc.ChannelGraph(model)
    roles = ("producer", "norm") + (("consumer",) if consumers else ())
    norms, sizes = [], []
    for group in graph.groups:
        total = np.zeros(group.size)
        count = np.zeros(group.size, dtype="int64")
        for ref in graph.weight_refs(group, roles=roles):
            w = np.moveaxis(ref.variable.numpy(), ref.axis, 0)
            w = w.reshape(w.shape[0], -1)[ref.positions]
            total += np.sum(np.square(w), axis=1)
            count += w.shape[1]
        norms.append(np.sqrt(total))
        sizes.append(count)
    return np.concatenate(norms), np.concatenate(sizes)


@pytest.mark.parametrize("consumers", [False, True])
def test_value_is_strength_times_size_weighted_norms(consumers):
    penalty = GroupLasso(strength=0.01, include_consumers=consumers)
    model = _bound(penalty)
    norms, sizes = _expected_norms(model, consumers)
    expected = 0.01 * np.sum(np.sqrt(sizes) * norms)
    np.testing.assert_allclose(float(penalty(model)), expected, rtol=1e-5)
    np.testing.assert_array_equal(penalty.plan.channel_sizes, sizes)
    assert penalty.plan.num_channels == 4 + 6


def test_no_normalization_sums_plain_norms():
    penalty = GroupLasso(strength=2.0, normalization="none")
    model = _bound(penalty)
    norms, _ = _expected_norms(model)
    np.testing.assert_allclose(
        float(penalty(model)), 2.0 * norms.sum(), rtol=1e-5
    )


def test_strength_assign_is_seen_by_a_traced_function():
    penalty = GroupLasso(strength=1.0)
    model = _bound(penalty)
    traced = tf.function(lambda: penalty(model))
    first = float(traced())
    penalty.strength.assign(3.0)
    assert float(traced()) == pytest.approx(3.0 * first, rel=1e-5)
    penalty.strength.assign(0.0)
    assert float(traced()) == 0.0


def test_gradient_is_finite_for_a_zero_group():
    penalty = GroupLasso(strength=1.0)
    model = _bound(penalty)
    conv, bn = model.layers[0], model.layers[1]
    conv.kernel.assign(np.zeros(conv.kernel.shape, "float32"))
    conv.bias.assign(np.zeros(conv.bias.shape, "float32"))
    bn.gamma.assign(np.zeros((4,), "float32"))
    bn.beta.assign(np.zeros((4,), "float32"))
    with tf.GradientTape() as tape:
        value = penalty(model)
    grads = tape.gradient(value, model.trainable_variables)
    assert all(np.isfinite(g.numpy()).all() for g in grads if g is not None)


def test_proximal_value_carries_no_gradient():
    penalty = GroupLasso(strength=1.0, proximal=True)
    model = _bound(penalty)
    with tf.GradientTape() as tape:
        value = penalty(model)
    assert float(value) > 0
    grads = tape.gradient(value, model.trainable_variables)
    assert all(g is None for g in grads)


def test_proximal_step_shrinks_channels_by_the_formula():
    penalty = GroupLasso(strength=0.5, normalization="none", proximal=True)
    model = _bound(penalty)
    norms, _ = _expected_norms(model)
    lr = float(np.median(norms)) / 0.5
    kernel0 = model.layers[0].kernel.numpy()
    penalty.apply_proximal(lr)
    factors = np.maximum(0.0, 1.0 - lr * 0.5 / norms)
    np.testing.assert_allclose(
        model.layers[0].kernel.numpy(), kernel0 * factors[:4], atol=1e-6
    )
    new_norms, _ = _expected_norms(model)
    np.testing.assert_allclose(new_norms, norms * factors, atol=1e-5)


def test_proximal_step_sets_small_channels_to_exact_zero():
    penalty = GroupLasso(strength=1.0, normalization="none", proximal=True)
    model = _bound(penalty)
    norms, _ = _expected_norms(model)
    penalty.apply_proximal(float(np.median(norms)))
    after, _ = _expected_norms(model)
    assert np.all(after[norms < np.median(norms)] == 0.0)
    assert np.all(after[norms > np.median(norms)] > 0.0)
    # BN moving statistics are not members: untouched.
    assert np.all(model.layers[1].moving_variance.numpy() == 1.0)


def test_channel_scales_multiply_each_channel():
    penalty = GroupLasso(strength=1.0, normalization="none")
    model = _bound(penalty)
    norms, _ = _expected_norms(model)
    scales = penalty.enable_channel_scales(model)
    assert penalty.enable_channel_scales(model) is scales
    weights = np.array([0.0] * 4 + [2.0] * 6, "float32")
    scales.assign(weights)
    np.testing.assert_allclose(
        float(penalty(model)), np.sum(weights * norms), rtol=1e-5
    )
    assert any(v is scales for v in penalty.non_trainable_variables)


def test_channel_weights_select_the_penalized_channels():
    penalty = GroupLasso(strength=1.0, normalization="none", proximal=True)
    model = _bound(penalty)
    norms, _ = _expected_norms(model)
    weights = penalty.enable_channel_weights(model)
    assert penalty.enable_channel_weights(model) is weights
    np.testing.assert_array_equal(weights.numpy(), 1.0)
    chosen = np.array([1.0, 0.0] * 5, "float32")
    weights.assign(chosen)
    scales = penalty.enable_channel_scales(model)
    scales.assign(np.full((10,), 3.0, "float32"))
    penalty.proximal = False
    np.testing.assert_allclose(
        float(penalty(model)), np.sum(3.0 * chosen * norms), rtol=1e-5
    )
    penalty.proximal = True
    penalty.apply_proximal(1e3)  # far past every norm
    after = penalty.channel_values(model).numpy()
    np.testing.assert_array_equal(after[chosen == 1], 0.0)
    np.testing.assert_allclose(after[chosen == 0], norms[chosen == 0], 1e-5)
    assert any(v is weights for v in penalty.non_trainable_variables)


def test_bn_gamma_l1_value_and_soft_threshold():
    penalty = BNGammaL1(strength=0.1, proximal=True)
    model = _bound(penalty)
    bn0, bn1 = model.layers[1], model.layers[4]
    bn0.gamma.assign(np.array([0.5, -0.05, 1.0, 0.02], "float32"))
    gammas = np.concatenate([bn0.gamma.numpy(), bn1.gamma.numpy()])
    expected = 0.1 * np.abs(gammas).sum()
    np.testing.assert_allclose(float(penalty(model)), expected, rtol=1e-5)
    beta = bn0.beta.numpy().copy()
    penalty.apply_proximal(1.0)  # threshold lr * strength = 0.1
    np.testing.assert_allclose(
        bn0.gamma.numpy(), [0.4, 0.0, 0.9, 0.0], atol=1e-6
    )
    np.testing.assert_array_equal(bn0.beta.numpy(), beta)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"strength": -1.0}, ValueError),
        ({"strength": float("nan")}, ValueError),
        ({"strength": "big"}, TypeError),
        ({"normalization": "size"}, ValueError),
        ({"epsilon": 0.0}, ValueError),
    ],
)
def test_invalid_arguments_are_rejected(kwargs, error):
    with pytest.raises(error, match="Received"):
        GroupLasso(**kwargs)


def test_unbound_proximal_step_raises():
    with pytest.raises(RuntimeError, match="not bound"):
        GroupLasso(proximal=True).apply_proximal(0.1)


@pytest.mark.parametrize("cls", [GroupLasso, BNGammaL1])
def test_serialization_round_trip(cls):
    penalty = cls(strength=0.25, proximal=True, name="pen")
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(penalty)
    )
    assert type(restored) is cls
    assert restored.get_config() == penalty.get_config()
    assert float(restored.strength.numpy()) == 0.25
