"""`Distiller.compile` with arguments given per output, and logit KD
refused on a regression output."""

import keras
import numpy as np
import pytest

import tf_compact as tfc


def _detector(seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((6, 6, 1))
    y = keras.layers.Conv2D(4, 3, activation="relu")(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    return keras.Model(
        x,
        {
            "cls": keras.layers.Dense(3, name="cls")(y),
            "box": keras.layers.Dense(4, "sigmoid", name="box")(y),
        },
    )


def _data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6, 6, 1)).astype("f4")
    return x, {"cls": rng.integers(0, 3, n), "box": rng.random((n, 4))}


def test_a_dict_loss_trains_the_distilled_output_with_its_entry():
    teacher, student = _detector(0), _detector(1)
    distiller = tfc.Distiller(
        teacher, student, [tfc.LogitsKD()], distilled_output="cls"
    )
    cls_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    distiller.compile(
        "adam",
        loss={"cls": cls_loss, "box": "mse"},
        metrics={"cls": ["accuracy"], "box": ["mae"]},
    )
    x, y = _data()
    logs = distiller.fit(x, y, epochs=1, batch_size=16, verbose=0).history
    assert np.isfinite(logs["student_loss"][0])
    # The student loss is the cross-entropy of the "cls" output alone.
    scores = distiller.evaluate(x, y, verbose=0, return_dict=True)
    expected = float(cls_loss(y["cls"], student(x, training=False)["cls"]))
    assert scores["student_loss"] == pytest.approx(expected, rel=1e-4)
    assert "accuracy" in scores


def test_a_dict_loss_without_the_distilled_output_is_refused():
    distiller = tfc.Distiller(
        _detector(0), _detector(1), [tfc.LogitsKD()], distilled_output="cls"
    )
    with pytest.raises(ValueError, match=r"output 'cls' only.*\['box'\]"):
        distiller.compile("adam", loss={"box": "mse"})


def _autoencoder(seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((6, 6, 3))
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    return keras.Model(x, keras.layers.Conv2D(3, 1, name="recon")(y))


@pytest.mark.parametrize(
    "loss", ["mse", keras.losses.MeanAbsoluteError(), keras.losses.Huber()]
)
def test_logits_kd_is_refused_on_a_regression_output(loss):
    distiller = tfc.Distiller(
        _autoencoder(0), _autoencoder(1), [tfc.LogitsKD()]
    )
    with pytest.raises(ValueError, match="regression output"):
        distiller.compile("adam", loss=loss)


def test_logits_kd_is_refused_when_the_teacher_is_a_regression_model():
    teacher = _autoencoder(0)
    teacher.compile("adam", loss="mean_squared_error")
    distiller = tfc.Distiller(teacher, _autoencoder(1), [tfc.LogitsKD()])
    with pytest.raises(ValueError, match="the teacher was compiled with"):
        distiller.compile("adam")


def test_a_regression_output_distills_with_feature_kd_on_the_outputs():
    teacher, student = _autoencoder(0), _autoencoder(1)
    distiller = tfc.Distiller(
        teacher, student, [tfc.FeatureKD(pairs=[("recon", "recon")])]
    )
    distiller.compile(keras.optimizers.Adam(0.01), loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 6, 6, 3)).astype("f4")
    gap = np.mean(
        (student.predict(x, verbose=0) - teacher.predict(x, verbose=0)) ** 2
    )
    distiller.fit(x, x, epochs=20, batch_size=16, verbose=0)
    after = np.mean(
        (student.predict(x, verbose=0) - teacher.predict(x, verbose=0)) ** 2
    )
    assert after < gap
