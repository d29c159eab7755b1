"""GradualPruning: the mask shrinks on a cubic schedule to the budget."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.callbacks import helpers
from tf_compact.callbacks import GradualPruning


class _Probe(keras.callbacks.Callback):
    """Records the pruning callback's kept-channel count after each batch."""

    def __init__(self, pruning):
        super().__init__()
        self.pruning = pruning
        self.kept = []

    def on_train_batch_end(self, batch, logs=None):
        mask = keras.ops.convert_to_numpy(self.pruning.mask)
        self.kept.append(int((mask > 0).sum()))


def _fit(model_or_trainer, callback, x, y, epochs=4, probe=None):
    callbacks = [callback] + ([probe] if probe else [])
    return model_or_trainer.fit(
        x, y, epochs=epochs, batch_size=8, callbacks=callbacks, verbose=0
    ).history


def test_schedule_is_cubic_from_full_to_the_target():
    callback = GradualPruning(
        target_macs=0.2, target_params=0.5, begin_step=10, end_step=30
    )
    assert callback.schedule(0) == {"macs": 1.0, "params": 1.0}
    assert callback.schedule(10) == {"macs": 1.0, "params": 1.0}
    half = callback.schedule(20)
    assert half["macs"] == pytest.approx(0.2 + 0.8 * 0.125)
    assert half["params"] == pytest.approx(0.5 + 0.5 * 0.125)
    assert callback.schedule(30) == {"macs": 0.2, "params": 0.5}
    assert callback.schedule(99) == {"macs": 0.2, "params": 0.5}
    linear = GradualPruning(target_macs=0.2, end_step=20, exponent=1)
    assert linear.schedule(10)["macs"] == pytest.approx(0.6)


def test_mask_shrinks_to_both_targets_and_slimming_keeps_the_function():
    x, y = helpers.data(64)
    trainer = helpers.sparsifier(strength=0.0, proximal=False)
    model = trainer.model
    callback = GradualPruning(
        target_macs=0.5, target_params=0.3, end_step=24, frequency=4
    )
    probe = _Probe(callback)
    history = _fit(trainer, callback, x, y, epochs=4, probe=probe)
    # 8 steps per epoch: the mask shrinks over the first 3 epochs, in
    # several updates, and never grows back.
    kept = probe.kept
    assert len(set(kept[:24])) >= 4
    assert all(a >= b for a, b in zip(kept, kept[1:]))
    assert kept[24:] == [kept[-1]] * 8
    assert history["slim_params_fraction"][-1] <= 0.3
    assert history["slim_macs_fraction"][-1] <= 0.5
    assert history["slim_params_fraction"][0] > 0.3
    assert callback.meets(callback.cost())
    report = tfc.sparsity_report(model, threshold=1e-12)
    masked = ~np.concatenate([callback.masks[n] for n in report.group_names])
    assert masked.any()
    assert np.all(report.values[masked] == 0.0)
    assert np.all(report.values[~masked] > 0.0)
    slim = tfc.slim(model, callback.masks)
    dense = tfc.estimate_slim_cost(model)
    macs, params = tfc.estimate_slim_cost(slim)
    assert macs <= 0.5 * dense[0] and params <= 0.3 * dense[1]
    np.testing.assert_allclose(slim(x), model(x), atol=1e-4)


def test_final_mask_is_the_one_shot_prune_of_the_trained_weights():
    x, y = helpers.data(32)
    model = helpers.conv_model()
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    callback = GradualPruning(target_macs=0.4, end_step=8, frequency=2)
    _fit(model, callback, x, y, epochs=2)
    expected = tfc.pruning.prune_masks(model, target_macs=0.4)
    for name, keep in callback.masks.items():
        np.testing.assert_array_equal(keep, expected[name])


def test_round_to_rounds_the_kept_widths():
    x, y = helpers.data(32)
    model = helpers.conv_model(filters=(16, 32))
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    callback = GradualPruning(
        target_macs=0.3, end_step=8, frequency=2, round_to=8
    )
    _fit(model, callback, x, y, epochs=2)
    widths = [int(keep.sum()) for keep in callback.masks.values()]
    assert all(w % 8 == 0 for w in widths)
    assert sum(widths) < 48


def test_restarted_training_recomputes_the_mask_at_the_saved_step():
    x, y = helpers.data(32)
    model = helpers.conv_model()
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    first = GradualPruning(target_macs=0.4, end_step=8, frequency=8)
    _fit(model, first, x, y, epochs=3)
    assert int(model.optimizer.iterations) == 12
    # A new callback (as after an interruption) starts at the final mask,
    # not at the full model.
    second = GradualPruning(target_macs=0.4, end_step=8, frequency=8)
    second.set_model(model)
    second.on_train_begin()
    assert second.meets(second.cost())
    for name, keep in second.masks.items():
        np.testing.assert_array_equal(keep, first.masks[name])


def test_config_round_trip():
    callback = GradualPruning(
        target_macs=0.25,
        target_params=0.1,
        end_step=300,
        begin_step=10,
        frequency=5,
        exponent=2,
        importance="l1",
        round_to=8,
        min_channels=2,
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(callback)
    )
    assert restored.get_config() == callback.get_config()
    assert restored.targets == {"macs": 0.25, "params": 0.1}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"end_step": 10},
        {"target_macs": 0.5, "end_step": None},
        {"target_macs": 0.5, "end_step": 0},
        {"target_macs": 0.5, "end_step": 10, "begin_step": 10},
        {"target_macs": 0.5, "end_step": 10, "frequency": 0},
        {"target_macs": 0.5, "end_step": 10.5},
        {"target_macs": 0.5, "end_step": 10, "exponent": 0},
        {"target_macs": 0.5, "end_step": 10, "importance": "taylor"},
        {"target_macs": 0.5, "end_step": 10, "round_to": 0},
        {"target_macs": 1.5, "end_step": 10},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        GradualPruning(**kwargs)


def test_auto_end_step_is_two_thirds_of_the_fit():
    x, y = helpers.data(64)
    trainer = helpers.sparsifier(strength=0.0, proximal=False)
    callback = GradualPruning(target_macs=0.5, frequency=4)
    assert callback.end_step is None
    with pytest.raises(ValueError, match="set when fit starts"):
        callback.schedule(0)
    probe = _Probe(callback)
    history = _fit(trainer, callback, x, y, epochs=3, probe=probe)
    # 8 steps per epoch, 3 epochs: the budget is reached at step 16 and
    # held for the last third.
    assert callback.end_step == 16
    assert callback.updates[-1]["step"] == 16
    assert len(set(probe.kept[15:])) == 1 and len(set(probe.kept[:16])) > 2
    assert history["slim_macs_fraction"][-1] <= 0.5
    assert GradualPruning.from_config(callback.get_config()).end_step is None


def test_auto_end_step_needs_the_steps_of_an_epoch():
    x, y = helpers.data(32)
    unknown = tf.data.Dataset.from_generator(
        lambda: iter([(x[:8], y[:8])]),
        output_signature=(
            tf.TensorSpec((None,) + x.shape[1:], "float32"),
            tf.TensorSpec((None,), y.dtype),
        ),
    )
    trainer = helpers.sparsifier(strength=0.0, proximal=False)
    callback = GradualPruning(target_macs=0.5)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        trainer.fit(unknown, epochs=1, callbacks=[callback], verbose=0)


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("interrupted")


def _resumable_run(extra_callbacks, x, y):
    keras.utils.set_random_seed(3)
    trainer = helpers.sparsifier(strength=0.0, proximal=False, lr=0.02)
    # The pruning callback comes first, as in `compress`: BackupAndRestore
    # restores the step only after its `on_train_begin`.
    pruning = GradualPruning(target_macs=0.4, end_step=8, frequency=3)
    trainer.fit(
        x,
        y,
        epochs=3,
        batch_size=16,
        shuffle=False,
        callbacks=[pruning, *extra_callbacks],
        verbose=0,
    )
    return trainer, pruning


def test_interrupted_fit_resumes_the_schedule_exactly(tmp_path):
    x, y = helpers.data(48)  # 3 steps per epoch: updates at 3, 6 and 8
    reference, expected = _resumable_run([], x, y)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        _resumable_run([backup, _Interrupt()], x, y)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    resumed, pruning = _resumable_run([backup], x, y)
    assert [u["step"] for u in pruning.updates] == [6, 8]
    # Layer names differ between the runs; the groups come in graph order.
    for keep, want in zip(pruning.masks.values(), expected.masks.values()):
        np.testing.assert_array_equal(keep, want)
    for a, b in zip(resumed.model.weights, reference.model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_last_update_step():
    callback = GradualPruning(
        target_macs=0.5, begin_step=4, end_step=20, frequency=5
    )
    assert callback.last_update_step(3) is None
    assert callback.last_update_step(4) == 4
    assert callback.last_update_step(13) == 9
    assert callback.last_update_step(14) == 14
    assert callback.last_update_step(25) == 20
