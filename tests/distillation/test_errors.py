"""Clear errors for misuse of the Distiller and its losses."""

import keras
import pytest

import tf_compact as tfc
from tests.distillation import models


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(4, 3, name="conv")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(models.NUM_CLASSES)

    def call(self, x):
        return self.head(self.pool(self.conv(x)))


def test_incompatible_input_shapes():
    teacher = models.conv_net(8, "teacher")
    student = models.conv_net(4, "student", in_shape=(10, 10, 1))
    with pytest.raises(ValueError, match="input shapes are incompatible"):
        tfc.Distiller(teacher, student, [tfc.LogitsKD()])


def test_incompatible_output_shapes():
    teacher = models.conv_net(8, "teacher")
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    student = keras.Model(inputs, keras.layers.Dense(5)(x))
    with pytest.raises(ValueError, match="output shapes are incompatible"):
        tfc.Distiller(teacher, student, [tfc.LogitsKD()])


def test_unknown_layer_name_lists_the_names():
    teacher, student = models.pair()
    loss = tfc.FeatureKD(pairs=[("r1", "nope")])
    with pytest.raises(ValueError, match="Unknown layer name.*'nope'"):
        tfc.Distiller(teacher, student, [loss])
    keras_loss = keras.distillation.FeatureDistillation(
        teacher_layer_name="r1", student_layer_name="missing"
    )
    with pytest.raises(ValueError, match="missing"):
        tfc.Distiller(teacher, student, [keras_loss])


@pytest.mark.parametrize(
    "loss",
    [
        tfc.FeatureKD(pairs=[("r1", "conv")]),
        tfc.FeatureKD(),
        tfc.AttentionTransfer(),
        tfc.ContrastiveKD(),
    ],
)
def test_subclassed_student_where_a_layer_or_shape_is_needed(loss):
    teacher = models.conv_net(8, "teacher")
    student = Subclassed(name="sub")
    student(keras.ops.zeros((1, 8, 8, 1)))
    with pytest.raises(TypeError, match="subclassed"):
        tfc.Distiller(teacher, student, [loss])


def test_subclassed_student_works_with_logits_kd():
    teacher = models.conv_net(8, "teacher")
    student = Subclassed(name="sub")
    distiller = models.compile_distiller(
        tfc.Distiller(teacher, student, [tfc.LogitsKD()])
    )
    logs = distiller.train_on_batch(*models.data(8), return_dict=True)
    assert logs["logits_kd"] >= 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"distillation_loss_weights": [-1.0]}, "distillation_loss_weights"),
        (
            {"distillation_loss_weights": [1.0, 1.0]},
            "distillation_loss_weights",
        ),
        ({"student_loss_weight": -0.1}, "student_loss_weight"),
        ({"student_loss_weight": 1.5}, "student_loss_weight"),
    ],
)
def test_bad_weights(kwargs, match):
    teacher, student = models.pair()
    with pytest.raises(ValueError, match=match):
        tfc.Distiller(teacher, student, [tfc.LogitsKD()], **kwargs)


def test_bad_models_losses_and_sparsity():
    teacher, student = models.pair()
    with pytest.raises(TypeError, match="teacher"):
        tfc.Distiller("model", student, [tfc.LogitsKD()])
    with pytest.raises(TypeError, match="student"):
        tfc.Distiller(teacher, teacher, [tfc.LogitsKD()])
    with pytest.raises(TypeError, match="distillation_losses"):
        tfc.Distiller(teacher, student, ["kl_divergence"])
    with pytest.raises(ValueError, match="distillation_losses"):
        tfc.Distiller(teacher, student, [])
    with pytest.raises(TypeError, match="sparsity"):
        tfc.Distiller(teacher, student, [tfc.LogitsKD()], sparsity=3.0)


def test_feature_ranks_must_match():
    teacher, student = models.pair()
    with pytest.raises(ValueError, match="same rank"):
        tfc.Distiller(teacher, student, [tfc.FeatureKD([("r2", "gap")])])
    with pytest.raises(ValueError, match="4D feature maps"):
        tfc.Distiller(
            teacher, student, [tfc.AttentionTransfer([("gap", "gap")])]
        )


def test_auto_pairs_need_a_shared_resolution():
    teacher = models.conv_net(8, "teacher")
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    student = keras.Model(inputs, keras.layers.Dense(3)(x))
    with pytest.raises(ValueError, match="share no spatial resolution"):
        tfc.Distiller(teacher, student, [tfc.FeatureKD()])


def test_term_names_are_unique_and_not_reserved():
    teacher, student = models.pair()
    distiller = tfc.Distiller(
        teacher, student, [tfc.LogitsKD(), tfc.LogitsKD(temperature=2.0)]
    )
    assert [t.name for t in distiller.term_trackers] == [
        "logits_kd",
        "logits_kd_2",
    ]
    with pytest.raises(ValueError, match="student_loss"):
        tfc.Distiller(teacher, student, [tfc.LogitsKD(name="student_loss")])
