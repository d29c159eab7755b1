"""Measurements of a model whose BN moving statistics do not match its
weights: the controller's score, candidates in sensitivity tables, QAT."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.robustness.helpers import assert_unchanged
from tests.robustness.helpers import snapshot
from tf_compact.callbacks import SparsityController
from tf_compact.internal import batch_norm

CLASSES = 4
SIZE = 12


def _data(n, seed):
    """Images whose class is a bright band; far from BN's initial stats."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.normal(0.0, 1.0, (n, SIZE, SIZE, 3)).astype("float32")
    band = SIZE // CLASSES
    for c in range(CLASSES):
        x[y == c, c * band : (c + 1) * band, :, c % 3] += 2.0
    return 3.0 * x + 8.0, y.astype("int32")


def _net(momentum=0.9, trainable_bn=True):
    """Conv → BN(momentum) → ReLU blocks, a GAP and a logits head."""
    inputs = keras.Input((SIZE, SIZE, 3))
    h = inputs
    for filters in (8, 16):
        h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(h)
        h = keras.layers.BatchNormalization(
            momentum=momentum, trainable=trainable_bn
        )(h)
        h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(h))


def _accuracy(model, x, y):
    return float(np.mean(np.argmax(model(x, training=False), -1) == y))


def _copy(model):
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


@pytest.fixture(scope="module")
def wrong():
    """A trained model whose moving statistics were then spoiled, with
    frozen BN layers (training leaves the statistics as they are)."""
    keras.utils.set_random_seed(0)
    x, y = _data(256, 0)
    model = _net()
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=32, epochs=8, verbose=0)
    for layer in batch_norm.batch_norm_layers(model):
        layer.moving_mean.assign(layer.moving_mean.numpy() + 3.0)
        layer.moving_variance.assign(layer.moving_variance.numpy() * 9.0)
        layer.trainable = False
    return model


def _measured_accuracy(model, x, y, **kwargs):
    """The student accuracy a SparsityController measures after one epoch
    of training that changes nothing (learning rate 0, frozen BN)."""
    trainer = tfc.Sparsifier(model, sparsity=tfc.GroupLasso(1e-4))
    trainer.compile(
        keras.optimizers.SGD(0.0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    # No recalibration at train end: only the scoring is under test.
    controller = SparsityController(
        data=(x, y),
        metric="accuracy",
        reference=1.0,
        recalibrate_data=None,
        **kwargs,
    )
    history = trainer.fit(
        x, y, batch_size=32, epochs=1, callbacks=[controller], verbose=0
    )
    return 1.0 - history.history["sparsity_gap"][-1]


def test_controller_scores_the_recalibrated_model(wrong):
    x, y = _data(128, 1)
    stale = _accuracy(wrong, x, y)
    fixed = _copy(wrong)
    batch_norm.recalibrate(fixed, x)
    recalibrated = _accuracy(fixed, x, y)
    assert recalibrated - stale > 0.3
    before = snapshot(wrong)
    measured = _measured_accuracy(wrong, x, y)
    assert_unchanged(wrong, before)
    assert measured == pytest.approx(recalibrated, abs=1.0 / len(x))
    # Switched off, it scores the moving statistics, as before.
    assert _measured_accuracy(
        wrong, x, y, batch_statistics=False
    ) == pytest.approx(stale)
    assert_unchanged(wrong, before)


def test_controller_batch_statistics_round_trips():
    x, y = _data(8, 0)
    controller = SparsityController(data=(x, y), batch_statistics=False)
    config = controller.get_config()
    assert config["batch_statistics"] is False
    restored = SparsityController.from_config(config)
    assert restored.batch_statistics is False
    assert SparsityController(data=(x, y)).batch_statistics is True
    with pytest.raises(ValueError, match="batch_statistics"):
        SparsityController(data=(x, y), batch_statistics="yes")


def test_sensitivity_auto_judges_cuts_on_batch_statistics(wrong):
    from tf_compact.pruning.importance import group_importance
    from tf_compact.pruning.selection import top_mask
    from tf_compact.pruning.sensitivity import resolve_recalibrate
    from tf_compact.pruning.sensitivity import sensitivity_table

    x, _ = _data(64, 2)
    graph = tfc.ChannelGraph(wrong)
    scores = group_importance(wrong, graph, criterion="l2")
    before = snapshot(wrong)
    auto = sensitivity_table(wrong, graph, scores, [x], step=4)
    forced = sensitivity_table(
        wrong, graph, scores, [x], step=4, recalibrate=True
    )
    moving = sensitivity_table(
        wrong, graph, scores, [x], step=4, recalibrate=False
    )
    assert_unchanged(wrong, before)
    assert auto == forced
    assert auto != moving
    # A cut judged on batch statistics: the KL divergence of the cut
    # model recalibrated on the batch from the full model recalibrated on
    # it (one batch: its statistics are the pooled ones).
    name = next(iter(scores))
    width = min(auto[name])
    full = _copy(wrong)
    cut = tfc.apply_masks(wrong, {name: top_mask(scores[name], width)}, graph)
    for model in (full, cut):
        batch_norm.recalibrate(model, x)
    p = keras.ops.softmax(full(x, training=False)).numpy().astype("float64")
    q = keras.ops.softmax(cut(x, training=False)).numpy().astype("float64")
    expected = np.mean(np.sum(p * (np.log(p) - np.log(q)), -1))
    assert auto[name][width] == pytest.approx(expected, rel=1e-3, abs=1e-6)
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert resolve_recalibrate("auto", plain) is False
    assert resolve_recalibrate("auto", wrong) is True
    with pytest.raises(ValueError, match="recalibrate"):
        resolve_recalibrate("always", wrong)


@pytest.fixture(scope="module")
def lagging():
    """BN momentum 0.999 (keras.applications), a few hundred steps: the
    moving statistics lag the weights."""
    keras.utils.set_random_seed(0)
    x, y = _data(256, 0)
    model = _net(momentum=0.999)
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=16, epochs=19, verbose=0)  # 304 steps
    return model, (x, y), _data(128, 1)


def _int8_accuracy(result, test):
    report = tfc.lite.benchmark(
        bytes(result), dataset=test, runs=1, warmup=0, num_threads=1
    )
    return report.accuracy


@pytest.mark.slow
def test_qat_int8_scores_what_the_recalibrated_float_model_scores(lagging):
    model, train, test = lagging
    before = snapshot(model)
    fixed = _copy(model)
    batch_norm.recalibrate(fixed, train[0])
    float_accuracy = _accuracy(fixed, *test)
    assert float_accuracy - _accuracy(model, *test) > 0.3
    keras.utils.set_random_seed(0)
    synced = tfc.lite.qat(model, train, epochs=1, verify=False)
    keras.utils.set_random_seed(0)
    stale = tfc.lite.qat(
        model, train, epochs=1, verify=False, recalibrate=False
    )
    assert_unchanged(model, before)
    done = synced.bn_recalibration
    assert done["model"]["recalibrated"] and done["qat_model"]["recalibrated"]
    assert done["model"]["output_change"] > 0.2
    assert not stale.bn_recalibration["qat_model"]["recalibrated"]
    assert any("before QAT" in note for note in synced.notes)
    assert any("after training" in note for note in synced.notes)
    synced_accuracy = _int8_accuracy(synced, test)
    assert synced_accuracy == pytest.approx(float_accuracy, abs=0.04)
    assert float_accuracy - _int8_accuracy(stale, test) > 0.2


@pytest.mark.slow
def test_qat_keeps_statistics_that_already_match(lagging):
    model, train, _ = lagging
    fixed = _copy(model)
    batch_norm.recalibrate(fixed, train[0])
    assert batch_norm.output_change(fixed, train[0]) < 0.2
    result = tfc.lite.qat(fixed, train, epochs=0, verify=False)
    done = result.bn_recalibration
    assert not done["model"]["recalibrated"]
    assert done["qat_model"]["recalibrated"]
    assert any("kept" in note for note in result.notes)
    with pytest.raises(ValueError, match="recalibrate"):
        tfc.lite.qat(fixed, train, epochs=0, recalibrate="yes")


@pytest.mark.parametrize("recalibrate", [True, False])
def test_iterative_prune_returns_statistics_that_match(recalibrate):
    keras.utils.set_random_seed(0)
    x, y = _data(64, 0)
    model = _net(momentum=0.999)  # untrained: statistics of N(0, 1)
    slim, rounds = tfc.iterative_prune(
        model,
        (x, y),
        target_macs=0.5,
        fraction=0.3,
        epochs_per_round=1,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        fit_kwargs={"batch_size": 32},
        recalibrate=recalibrate,
    )
    change = batch_norm.output_change(slim, x)
    if recalibrate:
        assert change < 1e-3
        assert all(r["bn_recalibration"]["batches"] == 2 for r in rounds)
    else:
        assert change > 0.2
        assert all("bn_recalibration" not in r for r in rounds)
