"""A string cross-entropy on a Distiller whose student outputs logits, and
the `validation_split` it keeps for the controllers."""

import keras
import numpy as np
import pytest

from tests.distillation import models
from tf_compact.distillation import Distiller
from tf_compact.distillation import LogitsKD


def test_a_string_loss_on_a_logits_student_trains_from_logits():
    teacher, student = models.pair()
    distiller = Distiller(teacher, student, [LogitsKD()])
    with pytest.warns(UserWarning, match="outputs logits"):
        distiller.compile(
            keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy"
        )
    x, y = models.data()
    logs = distiller.evaluate(x, y, return_dict=True, verbose=0)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        y, student(x, training=False)
    )
    assert logs["student_loss"] == pytest.approx(float(expected), rel=1e-4)


def test_fit_keeps_its_validation_split():
    teacher, student = models.pair()
    distiller = models.compile_distiller(
        Distiller(teacher, student, [LogitsKD()])
    )
    x, y = models.data(n=16)
    distiller.fit(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert distiller.fit_validation_split == 0.25
    distiller.fit(x, y, epochs=1, verbose=0)
    assert distiller.fit_validation_split == 0.0
    assert np.isfinite(distiller.evaluate(x, y, verbose=0)[0])
