"""Masking callbacks across fits and beside callbacks that set weights."""

import warnings

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.callbacks import helpers
from tf_compact.callbacks import GradualPruning
from tf_compact.callbacks import IterativePruning


def _model():
    model = helpers.conv_model()
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return model


def _masked(callback):
    return sum(int((~m).sum()) for m in callback.masks.values())


class _RestoreInitial(keras.callbacks.Callback):
    """Sets the weights from before training back at its end."""

    def on_train_begin(self, logs=None):
        self.initial = self.model.get_weights()

    def on_train_end(self, logs=None):
        self.model.set_weights(self.initial)


@pytest.mark.parametrize(
    "make",
    [
        lambda: GradualPruning(target_macs=0.4, frequency=2),
        lambda: IterativePruning(target_macs=0.4, fraction=0.5),
    ],
    ids=["gradual", "iterative"],
)
def test_a_second_fit_continues_from_the_mask_reached(make):
    x, y = helpers.data(16)
    model, callback = _model(), make()
    model.fit(x, y, epochs=2, batch_size=8, callbacks=[callback], verbose=0)
    first = callback.masks
    assert _masked(callback) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        history = model.fit(
            x, y, epochs=1, batch_size=8, callbacks=[callback], verbose=0
        ).history
    assert history["slim_macs_fraction"][-1] <= 0.4
    for name, kept in callback.masks.items():
        assert np.all(~kept[~first[name]])  # pruned channels stay pruned
    np.testing.assert_allclose(
        tfc.slim(model, callback.masks)(x), model(x), atol=1e-4
    )


@pytest.mark.parametrize("pruning_first", [True, False])
def test_masks_are_applied_again_after_weights_are_restored(pruning_first):
    x, y = helpers.data(16)
    model = _model()
    callback = GradualPruning(target_macs=0.4, frequency=2)
    restore = _RestoreInitial()
    callbacks = [callback, restore] if pruning_first else [restore, callback]
    with pytest.warns(UserWarning, match="masks were applied again"):
        model.fit(x, y, epochs=2, batch_size=8, callbacks=callbacks, verbose=0)
        masks = callback.masks
    assert _masked(callback) > 0
    np.testing.assert_allclose(tfc.slim(model, masks)(x), model(x), atol=1e-4)
    # Only the first read after training checks: later ones never touch
    # the model (weights the user sets stay as set).
    restored = [np.ones_like(w) for w in model.get_weights()]
    model.set_weights(restored)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        again = callback.masks
    assert set(again) == set(masks)
    for got, want in zip(model.get_weights(), restored):
        np.testing.assert_array_equal(got, want)


def test_zero_epochs_neither_raise_nor_warn():
    x, y = helpers.data(16)
    for callback in (
        GradualPruning(target_macs=0.4),
        IterativePruning(target_macs=0.4),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            _model().fit(x, y, epochs=0, callbacks=[callback], verbose=0)
        assert _masked(callback) == 0


def test_a_fit_after_recompiling_keeps_the_masks_reached():
    # A new optimizer counts its steps from 0: the schedule starts dense
    # again, and must not give back the channels already masked.
    x, y = helpers.data(16)
    model = _model()
    callback = GradualPruning(target_macs=0.4, frequency=2)
    model.fit(x, y, epochs=3, batch_size=8, callbacks=[callback], verbose=0)
    masked = _masked(callback)
    assert masked > 0
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(x, y, epochs=1, batch_size=8, callbacks=[callback], verbose=0)
    assert _masked(callback) >= masked
