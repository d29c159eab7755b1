"""BudgetController + GroupLasso reach the budget by sparsity in time.

Small real data (sklearn's digits, 8x8x1) and a tiny CNN: the strength
must bring the targeted channels to exact zero within the epochs given,
for Adam and SGD with momentum, whatever the steps per epoch, without
raising the threshold; the slim model's inference accuracy after BN
recalibration stays close to the sparse-trained model's.
"""

import math
import warnings

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

import tf_compact as tfc

THRESHOLD = 1e-3
EPOCHS = 6


def _digits():
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    return x, digits.target.astype("int64")


def _cnn():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Conv2D(32, 3, 2, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )


_OPTIMIZERS = {
    "adam": lambda: keras.optimizers.Adam(1e-3),
    "sgd_momentum": lambda: keras.optimizers.SGD(1e-2, momentum=0.9),
}


def _train(optimizer, batch_size):
    x, y = _digits()
    model = _cnn()
    trainer = tfc.Sparsifier(
        model, sparsity=tfc.GroupLasso(1e-4, proximal=True)
    )
    trainer.compile(
        optimizer=_OPTIMIZERS[optimizer](),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # recalibrate_data="auto" (the default): the data fit was given.
    controller = tfc.callbacks.BudgetController(
        target_macs=0.5, threshold=THRESHOLD
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = trainer.fit(
            x,
            y,
            batch_size=batch_size,
            epochs=EPOCHS,
            callbacks=[controller],
            verbose=0,
        )
    fallback = "were zeroed in the trained model"
    raised = [w for w in caught if fallback in str(w.message)]
    return model, controller, history.history, raised, (x, y)


def _accuracy(model, x, y):
    logits = keras.ops.convert_to_numpy(model(x, training=False))
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def _check_converged(controller, logs, raised):
    assert raised == []
    assert controller.met_by_sparsity is True
    assert controller.threshold == THRESHOLD
    assert logs["budget_met_by_sparsity"][-1] == 1.0
    assert logs["slim_macs_fraction"][-1] <= 0.5
    assert all(math.isfinite(s) for s in logs["sparsity_strength"])


@pytest.mark.parametrize("optimizer", sorted(_OPTIMIZERS))
def test_budget_met_by_sparsity_and_slim_model_keeps_accuracy(optimizer):
    model, controller, logs, raised, (x, y) = _train(optimizer, 64)
    _check_converged(controller, logs, raised)
    slim = tfc.prune(model, threshold=controller.threshold)
    report = tfc.sparsity_report(model, threshold=controller.threshold)
    assert report.macs_fraction <= 0.5
    # BN statistics were recalibrated at train end, on fit's own data:
    # the slim model in inference mode does about as well as the model did
    # in training mode during its last epoch.
    trained = logs["accuracy"][-1]
    assert _accuracy(slim, x, y) >= trained - 0.05
    assert _accuracy(slim, x, y) == pytest.approx(
        _accuracy(model, x, y), abs=0.01
    )


def test_time_constant_independent_of_steps_per_epoch():
    # Batch 256 gives 7 steps an epoch, a quarter of the 28 of batch 64
    # (covered above): the budget is met by sparsity in both.
    _, controller, logs, raised, _ = _train("adam", 256)
    _check_converged(controller, logs, raised)


def _moving_statistics(model):
    return [
        keras.ops.convert_to_numpy(v).copy()
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        for v in (layer.moving_mean, layer.moving_variance)
    ]


def _sparsifier():
    """`(model, trainer)`: the CNN under a proximal group lasso, compiled."""
    model = _cnn()
    trainer = tfc.Sparsifier(
        model, sparsity=tfc.GroupLasso(1e-4, proximal=True)
    )
    trainer.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model, trainer


@pytest.mark.parametrize(
    "make",
    [
        lambda x, y: tfc.callbacks.BudgetController(
            target_macs=0.5, recalibrate_data=x
        ),
        lambda x, y: tfc.callbacks.SparsityController(
            data=(x[:32], y[:32]), recalibrate_data=x, recalibrate_batches=2
        ),
        # The default: the data `fit` was given, 100 batches at most.
        lambda x, y: tfc.callbacks.BudgetController(target_macs=0.5),
    ],
    ids=["budget", "sparsity", "auto"],
)
def test_controllers_recalibrate_bn_statistics_at_train_end(make):
    x, y = _digits()
    x, y = x[:256], y[:256]
    model, trainer = _sparsifier()
    controller = make(x, y)
    trainer.fit(
        x, y, batch_size=64, epochs=1, callbacks=[controller], verbose=0
    )
    _assert_recalibrated(model, x, controller.recalibrate_batches or 100)


def _assert_recalibrated(model, data, batches):
    """The model's BN statistics are those of `batches` batches of `data`."""
    after_fit = _moving_statistics(model)
    tfc.sparsity.recalibrate_batch_norm(model, data, max_batches=batches)
    for got, want in zip(after_fit, _moving_statistics(model)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_auto_recalibration_without_the_fit_data_warns():
    x, y = _digits()
    x, y = x[:128], y[:128]
    model, trainer = _sparsifier()
    controller = tfc.callbacks.BudgetController(target_macs=0.5)
    with pytest.warns(UserWarning, match="were not recalibrated"):
        # Keras's own fit, as another trainer would call it: nothing hands
        # the data over.
        keras.Model.fit(
            trainer,
            x,
            y,
            batch_size=64,
            epochs=1,
            callbacks=[controller],
            verbose=0,
        )
    before = _moving_statistics(model)
    # With recalibrate_data=None it is silent and changes nothing.
    quiet = tfc.callbacks.BudgetController(
        target_macs=0.5, recalibrate_data=None
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet.set_model(trainer)
        quiet.on_train_end()
    assert not [w for w in caught if "recalibrated" in str(w.message)]
    for got, want in zip(_moving_statistics(model), before):
        np.testing.assert_array_equal(got, want)


def test_fit_data_is_handed_over_when_fit_takes_positional_arguments():
    x, y = _digits()
    x, y = x[:128], y[:128]
    model, trainer = _sparsifier()
    controller = tfc.callbacks.BudgetController(target_macs=0.5)
    # fit(x, y, batch_size, epochs, verbose, callbacks)
    trainer.fit(x, y, 64, 1, 0, [controller])
    _assert_recalibrated(model, (x, y), 100)


def test_data_that_cannot_be_read_again_is_not_handed_over():
    x, y = _digits()
    x, y = x[:128], y[:128]
    _, trainer = _sparsifier()

    def batches():
        for start in range(0, 128, 64):
            yield x[start : start + 64], y[start : start + 64]

    controller = tfc.callbacks.BudgetController(target_macs=0.5)
    # A generator is used up by fit: the controller warns, it does not
    # fail after training.
    with pytest.warns(UserWarning, match="were not recalibrated"):
        trainer.fit(batches(), epochs=1, callbacks=[controller], verbose=0)


@pytest.mark.parametrize("form", [list, tuple])
def test_the_arrays_of_a_two_input_model_are_handed_over(form):
    x, y = _digits()
    x, y = x[:128], y[:128]
    extra = np.random.default_rng(0).normal(size=(128, 3)).astype("float32")
    image = keras.Input(x.shape[1:])
    meta = keras.Input((3,))
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(image)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Concatenate()([h, meta])
    model = keras.Model([image, meta], keras.layers.Dense(10)(h))
    trainer = tfc.Sparsifier(
        model, sparsity=tfc.GroupLasso(1e-4, proximal=True)
    )
    trainer.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    controller = tfc.callbacks.BudgetController(target_macs=0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(form([x, extra]), y, 64, 1, 0, [controller])
    assert not [w for w in caught if "not recalibrated" in str(w.message)]
    _assert_recalibrated(model, ((x, extra), y), 100)
    # Without labels, the model's two inputs are read as inputs too.
    _assert_recalibrated(model, (x, extra), 100)


def test_recalibrate_data_strings_other_than_auto_are_refused():
    with pytest.raises(ValueError, match="recalibrate_data"):
        tfc.callbacks.BudgetController(target_macs=0.5, recalibrate_data="none")
