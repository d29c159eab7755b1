"""Unit tests of the distillation loss families."""

import keras
import numpy as np
import pytest
from keras import ops

import tf_compact as tfc
from tests.distillation import models
from tf_compact.distillation import attention_transfer
from tf_compact.distillation import contrastive_kd


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_logits_kd_matches_hinton_formula():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(5, 4)).astype("float32")
    s = rng.normal(size=(5, 4)).astype("float32")
    p_t, p_s = _softmax(t / 3.0), _softmax(s / 3.0)
    expected = 9.0 * np.mean(np.sum(p_t * np.log(p_t / p_s), axis=-1))
    got = _np(tfc.LogitsKD(temperature=3.0).compute_loss(t, s))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_logits_kd_is_zero_for_equal_logits_and_positive_otherwise():
    t = np.array([[1.0, 2.0, 0.5]], "float32")
    kd = tfc.LogitsKD()
    assert abs(float(_np(kd.compute_loss(t, t)))) < 1e-6
    assert float(_np(kd.compute_loss(t, t[:, ::-1].copy()))) > 0.0


def test_logits_kd_works_inside_keras_distiller():
    teacher, student = models.conv_net(4, "t"), models.conv_net(4, "s")
    distiller = keras.distillation.Distiller(
        teacher, student, distillation_losses=tfc.LogitsKD()
    )
    distiller.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = models.data(8)
    logs = distiller.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])


def test_standardized_logits_kd_matches_formula_and_ignores_logit_scale():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(6, 5)).astype("float32")
    s = rng.normal(size=(6, 5)).astype("float32")

    def z(x):
        return (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)

    p_t, p_s = _softmax(z(t) / 2.0), _softmax(z(s) / 2.0)
    expected = 4.0 * np.mean(np.sum(p_t * np.log(p_t / p_s), axis=-1))
    kd = tfc.LogitsKD(temperature=2.0, standardize=True)
    got = _np(kd.compute_loss(t, s))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    # A per-example shift and positive scale of either side changes nothing,
    # while the plain KD sees a different target.
    scale = rng.uniform(0.2, 5.0, size=(6, 1)).astype("float32")
    shifted = scale * s + rng.normal(size=(6, 1)).astype("float32")
    np.testing.assert_allclose(
        _np(kd.compute_loss(3.0 * t - 1.0, shifted)), got, rtol=1e-4
    )
    plain = tfc.LogitsKD(temperature=2.0)
    moved = _np(plain.compute_loss(t, shifted)) - _np(plain.compute_loss(t, s))
    assert abs(moved) > 1e-3
    # Constant logits rows stay finite, gradients included.
    import tensorflow as tf

    flat = tf.Variable(np.ones((2, 5), "float32"))
    with tf.GradientTape() as tape:
        loss = kd.compute_loss(tf.ones((2, 5)), flat)
    assert np.isfinite(_np(loss))
    assert np.all(np.isfinite(_np(tape.gradient(loss, flat))))


def test_standardized_logits_kd_trains_without_nans():
    teacher, student = models.pair()
    distiller = tfc.Distiller(
        teacher, student, [tfc.LogitsKD(2.0, standardize=True)]
    )
    models.compile_distiller(distiller)
    x, y = models.data()
    logs = distiller.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert np.isfinite(logs["logits_kd"])


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_logits_kd_rejects_non_bool_standardize(bad):
    with pytest.raises(TypeError, match="standardize"):
        tfc.LogitsKD(standardize=bad)


@pytest.mark.parametrize("bad", [0, -1.0, "4", None, True])
def test_logits_kd_rejects_bad_temperature(bad):
    with pytest.raises(ValueError, match="temperature"):
        tfc.LogitsKD(temperature=bad)


def test_feature_kd_distances():
    t = np.ones((2, 3, 3, 4), "float32")
    s = np.zeros((2, 3, 3, 4), "float32")
    assert float(_np(tfc.FeatureKD(distance="mse").term_loss([t], [s]))) == 1
    mae = tfc.FeatureKD(distance="mae").term_loss([t], [3 * t])
    assert float(_np(mae)) == 2
    cos = tfc.FeatureKD(distance="cosine").term_loss([t], [3 * t])
    assert abs(float(_np(cos))) < 1e-6


def test_feature_kd_rejects_bad_arguments():
    with pytest.raises(ValueError, match="distance"):
        tfc.FeatureKD(distance="l3")
    with pytest.raises(ValueError, match="pairs"):
        tfc.FeatureKD(pairs=[("a",)])
    with pytest.raises(ValueError, match="pairs"):
        tfc.FeatureKD(pairs=[])
    with pytest.raises(ValueError, match="pairs"):
        tfc.FeatureKD(pairs="a")
    with pytest.raises(TypeError, match="project"):
        tfc.FeatureKD(project="yes")


def test_attention_map_ignores_channel_count_and_is_normalized():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(2, 4, 4, 1)).astype("float32")
    narrow = np.repeat(base, 2, axis=-1)
    wide = np.repeat(base, 8, axis=-1)
    a_n = _np(attention_transfer.attention_map(narrow))
    a_w = _np(attention_transfer.attention_map(wide))
    np.testing.assert_allclose(a_n, a_w, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a_n, axis=-1), 1.0, rtol=1e-5)
    at = tfc.AttentionTransfer()
    assert abs(float(_np(at.term_loss([wide], [narrow])))) < 1e-6


def test_attention_transfer_resizes_student_map():
    t = np.ones((2, 8, 8, 4), "float32")
    s = np.ones((2, 4, 4, 2), "float32")
    loss = tfc.AttentionTransfer().term_loss([t], [s])
    assert abs(float(_np(loss))) < 1e-6
    s_peak = np.zeros((2, 4, 4, 2), "float32")
    s_peak[:, 0, 0] = 1.0
    assert float(_np(tfc.AttentionTransfer().term_loss([t], [s_peak]))) > 0


@pytest.mark.parametrize("scale", [1e-4, 1e-12, 1e6])
def test_attention_transfer_ignores_the_scale_of_activations(scale):
    rng = np.random.default_rng(3)
    t = rng.normal(size=(2, 4, 4, 8)).astype("float32")
    at = tfc.AttentionTransfer()
    loss = float(_np(at.term_loss([t], [t * np.float32(scale)])))
    assert abs(loss) < 1e-6
    a_t = _np(attention_transfer.attention_map(t))
    a_s = _np(attention_transfer.attention_map(t * np.float32(scale)))
    np.testing.assert_allclose(a_s, a_t, atol=1e-6)


def test_attention_map_is_scale_free_in_float16():
    rng = np.random.default_rng(4)
    t = rng.normal(size=(2, 4, 4, 8)).astype("float32")
    # Mostly float16 subnormals: an absolute epsilon swamps their squares.
    small = (t * 1e-5).astype("float16")
    a_16 = _np(attention_transfer.attention_map(small))
    a_32 = _np(attention_transfer.attention_map(t))
    np.testing.assert_allclose(a_16, a_32, atol=1e-3)
    zero = _np(attention_transfer.attention_map(np.zeros((1, 2, 2, 3))))
    np.testing.assert_array_equal(zero, 0.0)


def test_one_by_one_maps_add_nothing_to_attention_transfer():
    rng = np.random.default_rng(5)
    t = rng.normal(size=(2, 4, 4, 3)).astype("float32")
    one = np.ones((2, 1, 1, 3), "float32")
    at = tfc.AttentionTransfer()
    alone = float(_np(at.term_loss([t], [t[..., :2]])))
    both = at.term_loss([t, one * 1e-5], [t[..., :2], np.zeros_like(one)])
    assert float(_np(both)) == pytest.approx(alone, abs=1e-6)
    with pytest.warns(UserWarning, match="1x1 teacher feature"):
        at.build_module(
            [(None, 4, 4, 3), (None, 1, 1, 3)], [(None, 4, 4, 2)] * 2
        )


@pytest.mark.parametrize(
    "kwargs", [{"p": 0}, {"beta": -1.0}, {"pairs": [(1, 2)]}]
)
def test_attention_transfer_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        tfc.AttentionTransfer(**kwargs)


def _heads(memory_size=0, dim=6):
    return contrastive_kd.ContrastiveHeads(
        (None, 5), (None, 3), dim, memory_size
    )


def test_contrastive_kd_rewards_matching_embeddings():
    crd = tfc.ContrastiveKD(temperature=0.1)
    heads = _heads()
    rng = np.random.default_rng(2)
    s = rng.normal(size=(8, 3)).astype("float32")
    t = np.concatenate([s, np.zeros((8, 2), "float32")], axis=-1)
    kernel_t = np.zeros((5, 6), "float32")
    kernel_t[:3, :3] = np.eye(3)
    kernel_s = np.zeros((3, 6), "float32")
    kernel_s[:3, :3] = np.eye(3)
    heads.teacher_head.kernel.assign(kernel_t)
    heads.student_head.kernel.assign(kernel_s)
    aligned = float(_np(crd.term_loss([t], [s], module=heads)))
    shuffled = float(_np(crd.term_loss([t], [s[::-1].copy()], module=heads)))
    assert aligned < shuffled
    assert aligned < np.log(8.0)


def test_contrastive_kd_memory_bank_is_a_fifo_of_teacher_embeddings():
    crd = tfc.ContrastiveKD(memory_size=6)
    heads = _heads(memory_size=6)
    t = np.random.default_rng(3).normal(size=(4, 5)).astype("float32")
    s = np.random.default_rng(4).normal(size=(4, 3)).astype("float32")
    crd.term_loss([t], [s], module=heads, training=False)
    assert int(_np(heads.bank_pointer)) == 0
    crd.term_loss([t], [s], module=heads, training=True)
    z_t, _ = heads(t, s)
    np.testing.assert_allclose(_np(heads.bank)[:4], _np(z_t), atol=1e-6)
    assert int(_np(heads.bank_pointer)) == 4
    crd.term_loss([t], [s], module=heads, training=True)
    assert int(_np(heads.bank_pointer)) == 2
    np.testing.assert_allclose(_np(heads.bank)[:2], _np(z_t)[2:], atol=1e-6)


def test_contrastive_kd_needs_its_heads_and_valid_arguments():
    with pytest.raises(ValueError, match="projection heads"):
        tfc.ContrastiveKD().term_loss([np.ones((2, 3))], [np.ones((2, 3))])
    with pytest.raises(ValueError, match="memory_size"):
        tfc.ContrastiveKD(memory_size=-1)
    with pytest.raises(ValueError, match="embedding_dim"):
        tfc.ContrastiveKD(embedding_dim=0)
    with pytest.raises(ValueError, match="temperature"):
        tfc.ContrastiveKD(temperature=-0.1)
    with pytest.raises(ValueError, match="teacher_layer"):
        tfc.ContrastiveKD(teacher_layer=3)


@pytest.mark.parametrize(
    "loss",
    [
        tfc.LogitsKD(temperature=2.5, name="kd"),
        tfc.LogitsKD(temperature=2.0, standardize=True),
        tfc.FeatureKD(pairs=[("r1", "r1")], distance="cosine", project=True),
        tfc.FeatureKD(),
        tfc.AttentionTransfer(pairs=[("r2", "c2")], p=1.0, beta=10.0),
        tfc.ContrastiveKD("gap", "gap", 16, 0.2, 32),
    ],
)
def test_losses_serialize_round_trip(loss):
    config = keras.saving.serialize_keras_object(loss)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
    assert restored.term_name == loss.term_name


def test_name_must_be_an_identifier():
    with pytest.raises(ValueError, match="name"):
        tfc.LogitsKD(name="my kd")


def test_logits_kd_agrees_with_keras_kl_logits_distillation():
    rng = np.random.default_rng(5)
    t = rng.normal(size=(6, 5)).astype("float32")
    s = rng.normal(size=(6, 5)).astype("float32")
    theirs = keras.distillation.LogitsDistillation(
        temperature=2.0, loss=keras.losses.KLDivergence()
    ).compute_loss(t, s)
    ours = tfc.LogitsKD(temperature=2.0).compute_loss(t, s)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-4)


def test_kd_terms_are_zero_on_a_replica_with_no_example():
    # Under a strategy, a batch smaller than the replicas leaves some
    # replicas none: their share of every term is 0, not 0 / 0.
    empty = np.zeros((0, 4, 4, 3), "float32")
    logits = np.zeros((0, 5), "float32")
    terms = [
        tfc.LogitsKD().term_loss([logits], [logits]),
        tfc.LogitsKD(standardize=True).term_loss([logits], [logits]),
        tfc.AttentionTransfer().term_loss([empty], [empty]),
    ]
    terms += [
        tfc.FeatureKD(distance=d).term_loss([empty], [empty])
        for d in ("mse", "mae", "cosine")
    ]
    assert [float(_np(t)) for t in terms] == [0.0] * len(terms)
