"""A string cross-entropy on a Sparsifier whose model outputs logits."""

import warnings

import keras
import pytest

from tests.sparsity import tiny_models
from tf_compact.internal import logits_loss
from tf_compact.sparsity import GroupLasso
from tf_compact.sparsity import Sparsifier


def test_a_string_loss_on_logits_becomes_from_logits():
    trainer = Sparsifier(tiny_models.conv_model(), sparsity=GroupLasso())
    with pytest.warns(UserWarning, match="from_logits=True"):
        trainer.compile("adam", "sparse_categorical_crossentropy")
    assert isinstance(trainer.loss, keras.losses.SparseCategoricalCrossentropy)
    assert trainer.loss.get_config()["from_logits"] is True


def test_a_softmax_head_and_a_loss_object_are_left_alone():
    inputs = keras.Input((4,))
    softmax = keras.Model(
        inputs, keras.layers.Dense(3, activation="softmax")(inputs)
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer = Sparsifier(softmax, sparsity=GroupLasso())
        trainer.compile("adam", "sparse_categorical_crossentropy")
        assert trainer.loss == "sparse_categorical_crossentropy"
        trainer = Sparsifier(tiny_models.conv_model(), sparsity=GroupLasso())
        trainer.compile("adam", loss)
        assert trainer.loss is loss


def test_only_a_linear_last_layer_counts_as_logits():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3)(inputs)
    assert logits_loss.outputs_logits(keras.Model(inputs, hidden))
    relu = keras.layers.ReLU()(hidden)
    assert not logits_loss.outputs_logits(keras.Model(inputs, relu))
