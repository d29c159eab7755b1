"""Sparsifier: teacher-less training under a sparsity penalty."""

import warnings

import keras
import numpy as np
import pytest

from tests.sparsity import tiny_models
from tf_compact import callbacks
from tf_compact.sparsity import GroupLasso
from tf_compact.sparsity import Sparsifier


def _data(n=32, classes=3):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    y = rng.integers(0, classes, size=(n,))
    return x, y


def _trainer(penalty, lr=0.05):
    model = tiny_models.conv_model()
    trainer = Sparsifier(model, sparsity=penalty)
    trainer.compile(
        optimizer=keras.optimizers.SGD(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model, trainer


def test_logs_the_penalty_and_adds_it_to_the_loss():
    x, y = _data()
    penalty = GroupLasso(strength=0.01)
    model, trainer = _trainer(penalty)
    expected = float(penalty(model))
    logs = trainer.evaluate(x, y, return_dict=True, verbose=0)
    assert logs["sparsity_loss"] == pytest.approx(expected, rel=1e-5)
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        y, model(x, training=False)
    )
    assert logs["loss"] == pytest.approx(float(plain) + expected, rel=1e-4)
    # The loss without the penalty, for a monitor the penalty cannot fool.
    assert logs["task_loss"] == pytest.approx(float(plain), rel=1e-4)
    history = trainer.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert history.history["sparsity_loss"][0] > 0


def test_a_loss_monitor_beside_a_controller_is_warned_about():
    x, y = _data()
    _, trainer = _trainer(GroupLasso(strength=1e-3, proximal=True))
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=5)
    controller = callbacks.BudgetController(target_macs=0.9)
    with pytest.warns(UserWarning, match="monitors 'loss'.*'task_loss'"):
        trainer.fit(x, y, epochs=1, verbose=0, callbacks=[stop, controller])
    stop = keras.callbacks.EarlyStopping(
        monitor="task_loss", mode="min", patience=5
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(x, y, epochs=1, verbose=0, callbacks=[stop, controller])
    assert not [w for w in caught if "monitors" in str(w.message)]


def test_penalty_shrinks_the_channel_norms():
    x, y = _data()
    _, plain = _trainer(None)
    penalty = GroupLasso(strength=0.1)
    model, trainer = _trainer(penalty)
    plain.model.set_weights(model.get_weights())
    trainer.fit(x, y, epochs=3, batch_size=16, verbose=0)
    plain.fit(x, y, epochs=3, batch_size=16, verbose=0)
    after = penalty.channel_values(model).numpy()
    reference = GroupLasso()
    plain_after = reference.channel_values(plain.model).numpy()
    assert np.sum(after) < 0.9 * np.sum(plain_after)


def test_proximal_training_gives_exact_zero_channels():
    x, y = _data()
    penalty = GroupLasso(strength=2.0, proximal=True)
    model, trainer = _trainer(penalty, lr=0.05)
    trainer.fit(x, y, epochs=4, batch_size=16, verbose=0)
    values = penalty.channel_values(model).numpy()
    assert np.sum(values <= 1e-5) >= 1
    kernel = model.layers[0].kernel.numpy()
    zero = values[:4] <= 1e-5
    assert np.all(kernel[..., zero] == 0.0)


def test_strength_changes_take_effect_without_recompiling():
    x, y = _data()
    penalty = GroupLasso(strength=0.0)
    _, trainer = _trainer(penalty)
    first = trainer.fit(x, y, epochs=1, verbose=0).history
    penalty.strength.assign(0.5)
    second = trainer.fit(x, y, epochs=1, verbose=0).history
    assert first["sparsity_loss"][0] == 0.0
    assert second["sparsity_loss"][0] > 0.0


def test_without_penalty_trains_plainly():
    x, y = _data()
    model, trainer = _trainer(None)
    logs = trainer.fit(x, y, epochs=1, verbose=0).history
    assert "sparsity_loss" in logs
    assert logs["sparsity_loss"][0] == 0.0
    np.testing.assert_allclose(trainer.predict(x, verbose=0), model(x))


def test_penalty_state_is_saved_with_the_wrapper(tmp_path):
    penalty = GroupLasso(strength=0.3)
    _, trainer = _trainer(penalty)
    path = str(tmp_path / "w.weights.h5")
    trainer.save_weights(path)
    penalty.strength.assign(7.0)
    trainer.load_weights(path)
    assert float(penalty.strength.numpy()) == pytest.approx(0.3)


def test_invalid_arguments():
    with pytest.raises(TypeError, match="Received: model="):
        Sparsifier("not a model")
    with pytest.raises(TypeError, match="Received: sparsity="):
        Sparsifier(tiny_models.conv_model(), sparsity=3)


def test_serialization_round_trip():
    trainer = Sparsifier(
        tiny_models.conv_model(), sparsity=GroupLasso(0.2, proximal=True)
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(trainer)
    )
    assert isinstance(restored, Sparsifier)
    assert isinstance(restored.sparsity, GroupLasso)
    assert restored.sparsity.get_config() == trainer.sparsity.get_config()
    assert len(restored.model.layers) == len(trainer.model.layers)


@pytest.mark.parametrize(
    "controller",
    [
        lambda: callbacks.BudgetController(target_macs=0.5, blocks="auto"),
        lambda: callbacks.SparsityController(data=_data()),
        lambda: callbacks.GradualPruning(target_macs=0.5),
    ],
    ids=["budget_blocks", "sparsity_controller", "gradual"],
)
def test_a_model_trained_under_a_controller_loads_back(controller, tmp_path):
    x, y = _data()
    penalty = GroupLasso(strength=1e-3, proximal=True)
    _, trainer = _trainer(penalty)
    trainer.fit(x, y, epochs=1, verbose=0, callbacks=[controller()])
    added = [v.path for v in penalty.variables]
    assert len(added) > 1  # the controller added its variables
    path = str(tmp_path / "trainer.keras")
    trainer.save(path)
    loaded = keras.saving.load_model(path)
    assert [v.path for v in loaded.sparsity.variables] == added
    for a, b in zip(penalty.variables, loaded.sparsity.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_penalty_rebuilt_from_its_config_starts_its_states_as_new():
    x, y = _data()
    penalty = GroupLasso(strength=1e-3, proximal=True)
    _, trainer = _trainer(penalty)
    trainer.fit(
        x,
        y,
        epochs=1,
        verbose=0,
        callbacks=[callbacks.BudgetController(target_macs=0.5, blocks="auto")],
    )
    penalty.state_variable("reference_loss", 0.25)
    rebuilt = GroupLasso.from_config(penalty.get_config())
    # No weights loaded: each variable at the value it is created with.
    np.testing.assert_array_equal(np.asarray(rebuilt.channel_scales), 1.0)
    np.testing.assert_array_equal(np.asarray(rebuilt.channel_weights), 1.0)
    assert float(rebuilt.state_variable("reference_loss")) == 0.25
    with pytest.raises(ValueError, match="another model"):
        rebuilt.state_variable("reference_loss", shape=(3,))


def test_a_weights_file_with_controller_state_says_how_to_load_it(tmp_path):
    # Named alike, as in a fresh process (weights files go by names).
    x, y = _data()
    _, trainer = _trainer(GroupLasso(1e-3, proximal=True, name="penalty"))
    controller = callbacks.BudgetController(target_macs=0.5)
    trainer.fit(x, y, epochs=2, verbose=0, callbacks=[controller])
    path = str(tmp_path / "run.weights.h5")
    trainer.save_weights(path)
    _, fresh = _trainer(GroupLasso(1e-3, proximal=True, name="penalty"))
    fresh.fit(x, y, epochs=1, verbose=0)  # builds the optimizer
    with pytest.raises(ValueError, match=r"controller.set_model\(trainer\)"):
        fresh.load_weights(path)
    # The way out the message gives.
    callbacks.BudgetController(target_macs=0.5).set_model(fresh)
    fresh.load_weights(path)
    for got, want in zip(fresh.sparsity.weights, trainer.sparsity.weights):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
