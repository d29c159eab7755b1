"""SparsityController: control law, logs, references, errors."""

import csv
import json
import math
import warnings

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.callbacks import helpers
from tf_compact.callbacks import SparsityController
from tf_compact.callbacks import gap_scores as scores


class FixedGap(SparsityController):
    """Reports a scripted sequence of gaps instead of measuring."""

    def __init__(self, gaps, **kwargs):
        super().__init__(monitor="x", reference=0.0, **kwargs)
        self.gaps = list(gaps)

    def current_gap(self, logs=None):
        return self.gaps.pop(0)


def _strengths(controller, trainer, epochs, x, y):
    history = trainer.fit(
        x, y, epochs=epochs, callbacks=[controller], verbose=0
    ).history
    return history["sparsity_strength"]


def test_control_law_rises_holds_and_falls():
    x, y = helpers.data(16)
    trainer = helpers.sparsifier(strength=1e-3, proximal=False)
    gaps = [0.0, 0.05, 0.1, 0.3, float("nan")]
    controller = FixedGap(gaps, metric="loss", setpoint=0.05, gain=0.5)
    with pytest.warns(UserWarning, match="holding"):
        got = _strengths(controller, trainer, 5, x, y)
    expected, value = [], 1e-3
    for gap in [0.0, 0.05, 0.1, 0.3]:
        error = (0.05 - gap) / 0.05
        value *= float(np.clip(math.exp(0.5 * error), 0.5, 2.0))
        expected.append(value)
    expected.append(value)  # non-finite gap: held
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert got[0] > 1e-3 and got[1] == pytest.approx(got[0])
    assert got[2] < got[1] and got[3] == pytest.approx(got[2] / 2)


def test_bounds_are_respected():
    x, y = helpers.data(16)
    trainer = helpers.sparsifier(strength=0.0, proximal=False)
    controller = FixedGap(
        [0.0] * 4, min_strength=1e-4, max_strength=3e-4, max_change=10.0
    )
    got = _strengths(controller, trainer, 4, x, y)
    assert got[0] == pytest.approx(1e-4 * math.exp(0.5))
    assert got[-1] == pytest.approx(3e-4)


def test_non_finite_loss_holds_the_strength():
    controller = FixedGap([0.0])
    trainer = helpers.sparsifier(strength=1e-3, proximal=False)
    controller.set_model(trainer)
    with pytest.warns(UserWarning, match="nan"):
        controller._guarded_update({"loss": float("nan")})
    assert controller.strength_value() == pytest.approx(1e-3)
    assert controller.gaps == [0.0]


def test_logs_reach_history_and_csv_logger(tmp_path):
    x, y = helpers.data(32)
    trainer = helpers.sparsifier(strength=1e-3)
    controller = SparsityController(data=(x[:16], y[:16]))
    path = str(tmp_path / "log.csv")
    history = trainer.fit(
        x,
        y,
        epochs=2,
        callbacks=[controller, keras.callbacks.CSVLogger(path)],
        verbose=0,
    ).history
    keys = ("sparsity_strength", "group_sparsity", "slim_macs_fraction")
    for key in keys + ("sparsity_gap",):
        assert len(history[key]) == 2
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert all(key in rows[0] for key in keys)
    assert 0.0 <= history["group_sparsity"][-1] <= 1.0
    assert 0.0 < history["slim_macs_fraction"][-1] <= 1.0
    report = controller.last_report
    assert history["slim_macs_fraction"][-1] == report.macs_fraction


def test_reference_is_the_teacher_with_a_distiller():
    x, y = helpers.data(32)
    teacher = helpers.conv_model(name="teacher")
    student = helpers.conv_model(filters=(4, 8), name="student")
    distiller = tfc.Distiller(
        teacher,
        student,
        distillation_losses=[tfc.LogitsKD()],
        sparsity=tfc.GroupLasso(1e-3),
    )
    distiller.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    # Scored on moving statistics, to compare with plain inference calls.
    controller = SparsityController(
        data=(x, y), metric="accuracy", batch_statistics=False
    )
    distiller.fit(x, y, epochs=1, callbacks=[controller], verbose=0)
    assert controller.target is student
    t_acc = np.mean(np.argmax(teacher(x).numpy(), -1) == y)
    s_acc = np.mean(np.argmax(student(x).numpy(), -1) == y)
    assert controller.current_gap() == pytest.approx(t_acc - s_acc)


def test_reference_without_teacher_is_the_starting_score():
    x, y = helpers.data(32)
    trainer = helpers.sparsifier(strength=1e-3)
    controller = SparsityController(
        data=(x, y), metric="loss", batch_statistics=False
    )
    controller.set_model(trainer)
    logits = trainer.model(x).numpy()
    start = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        y, logits
    )
    controller.on_train_begin()
    assert controller.current_gap() == pytest.approx(0.0, abs=1e-6)
    stored = controller.penalty.state_variable("reference_loss").numpy()
    assert float(stored) == pytest.approx(float(start), rel=1e-5)


def test_error_without_a_penalty():
    model = helpers.conv_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = helpers.data(8)
    controller = SparsityController(data=(x, y))
    with pytest.raises(ValueError, match="needs a sparsity penalty"):
        model.fit(x, y, callbacks=[controller], verbose=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"metric": "f1"},
        {"setpoint": 0.0},
        {"gain": -1.0},
        {"update_every": 0},
        {"min_strength": 1.0, "max_strength": 0.5},
        {"max_change": 1.0},
        {"threshold": -1.0},
    ],
)
def test_invalid_arguments(kwargs):
    x, y = helpers.data(4)
    with pytest.raises(ValueError, match="Received"):
        SparsityController(data=(x, y), **kwargs)


def test_needs_data_or_monitor_with_reference():
    with pytest.raises(ValueError, match="data=None"):
        SparsityController()
    with pytest.raises(ValueError, match="update_every"):
        SparsityController(monitor="val_loss", reference=0.3, update_every=5)


def test_config_round_trip():
    controller = SparsityController(
        monitor="val_accuracy",
        reference=0.9,
        metric="accuracy",
        setpoint=0.02,
        gain=0.3,
        threshold=1e-4,
    )
    restored = SparsityController.from_config(controller.get_config())
    assert restored.get_config() == controller.get_config()
    again = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(controller)
    )
    assert again.get_config() == controller.get_config()


def test_config_carries_the_held_out_batch():
    x, y = helpers.data(6)
    one_hot = np.eye(3, dtype="float32")[y]
    controller = SparsityController(data=(x, one_hot), metric="accuracy")
    assert controller.get_config()["data"] is controller.data
    text = json.dumps(keras.saving.serialize_keras_object(controller))
    restored = keras.saving.deserialize_keras_object(json.loads(text))
    for got, want in zip(restored.data, (x, y)):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    assert restored.metric == "accuracy"
    trainer = helpers.sparsifier(proximal=False)
    # Restored, it scores the model on the same batch: no teacher, so the
    # reference is the model's own accuracy and the gap starts at zero.
    restored.set_model(trainer)
    restored.on_train_begin()
    reference = float(restored._reference_state.numpy())
    assert 0.0 <= reference <= 1.0
    assert restored.current_gap() == 0.0


def test_a_dataset_of_batches_is_read_into_the_held_out_batch(monkeypatch):
    import tensorflow as tf

    from tf_compact.callbacks import sparsity_controller

    x, y = helpers.data(10)
    one_hot = np.eye(3, dtype="float32")[y]
    dataset = tf.data.Dataset.from_tensor_slices((x, one_hot)).batch(4)
    controller = SparsityController(data=dataset)
    np.testing.assert_array_equal(controller.data[0], x)
    np.testing.assert_array_equal(controller.data[1], y)
    monkeypatch.setattr(sparsity_controller, "MAX_DATASET_ROWS", 6)
    controller = SparsityController(data=dataset)
    np.testing.assert_array_equal(controller.data[0], x[:6])
    with pytest.raises(ValueError, match="empty"):
        SparsityController(data=dataset.take(0))
    with pytest.raises(ValueError, match=r"\(x, y\) batches"):
        SparsityController(data=tf.data.Dataset.from_tensor_slices(x))


def test_a_validation_accuracy_far_under_training_is_warned_once():
    trainer = helpers.sparsifier()
    controller = SparsityController(
        monitor="val_accuracy", reference=0.6, metric="accuracy"
    )
    controller.set_model(trainer)
    controller.on_train_begin()
    stale = {"accuracy": 0.62, "val_accuracy": 0.12}
    with pytest.warns(UserWarning, match="BN moving statistics"):
        assert controller.current_gap(stale) == pytest.approx(0.48)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        controller.current_gap(stale)
        controller.current_gap({"accuracy": 0.62, "val_accuracy": 0.58})
    assert not [w for w in caught if "BN moving" in str(w.message)]


def test_monitoring_the_total_loss_with_a_penalty_warns():
    x, y = helpers.data(16)
    trainer = helpers.sparsifier()
    controller = SparsityController(monitor="val_loss", reference=1.0)
    with pytest.warns(UserWarning, match="includes the sparsity penalty"):
        trainer.fit(
            x,
            y,
            epochs=1,
            validation_split=0.5,
            callbacks=[controller],
            verbose=0,
        )
    assert scores.penalized_monitor(trainer, "val_accuracy") is None
    distiller = tfc.Distiller(
        helpers.conv_model(),
        helpers.conv_model(),
        [tfc.LogitsKD()],
        sparsity=tfc.GroupLasso(1e-3),
    )
    message = scores.penalized_monitor(distiller, "val_loss")
    assert "`val_student_loss`" in message
    assert scores.penalized_monitor(distiller, "val_student_loss") is None
