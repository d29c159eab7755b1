"""iterative_prune: rounds of global pruning and fine-tuning."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.callbacks import helpers


def test_rounds_shrink_the_model_to_the_target():
    x, y = helpers.data(32)
    model = helpers.conv_model(filters=(8, 16))
    before = [w.copy() for w in model.get_weights()]
    slim, rounds = tfc.iterative_prune(
        model,
        (x, y),
        target_macs=0.3,
        fraction=0.3,
        epochs_per_round=1,
        fit_kwargs={"batch_size": 16},
    )
    dense_macs, _ = tfc.estimate_slim_cost(model)
    fractions = [r["macs_fraction"] for r in rounds]
    assert len(rounds) >= 2
    assert all(a > b for a, b in zip(fractions, fractions[1:]))
    assert fractions[-1] <= 0.3
    assert fractions[-2] > 0.3
    assert tfc.estimate_slim_cost(slim)[0] <= 0.3 * dense_macs
    assert "loss" in rounds[-1]
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fine_tunes_with_a_teacher():
    x, y = helpers.data(32)
    teacher = helpers.conv_model(name="teacher")
    slim, rounds = tfc.iterative_prune(
        helpers.conv_model(),
        (x, y),
        target_params=0.6,
        fraction=0.5,
        teacher=teacher,
        optimizer=keras.optimizers.Adam(1e-3),
        fit_kwargs={"batch_size": 16},
    )
    assert "student_loss" in rounds[-1]
    assert rounds[-1]["params_fraction"] <= 0.6
    assert slim(x[:2]).shape == (2, 3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"target_macs": 1.5},
        {"target_macs": 0.5, "target_params": 1.5},
        {"target_macs": 0.5, "fraction": 1.0},
    ],
)
def test_invalid_arguments(kwargs):
    x, y = helpers.data(4)
    with pytest.raises(ValueError, match="Received"):
        tfc.iterative_prune(helpers.conv_model(), (x, y), **kwargs)


def test_both_targets_are_met_together():
    x, y = helpers.data(16)
    model = tfc.models.vgg(
        input_shape=(8, 8, 1),
        num_classes=3,
        blocks=((8,), (16,)),
        dense_units=32,
    )
    dense = tfc.estimate_slim_cost(model)
    alone = tfc.iterative_prune(
        model, (x, y), target_macs=0.5, fraction=0.2, epochs_per_round=0
    )[0]
    # The head holds the parameters: a MACs target alone leaves too many.
    assert tfc.estimate_slim_cost(alone)[1] > 0.2 * dense[1]
    slim, rounds = tfc.iterative_prune(
        model,
        (x, y),
        target_macs=0.5,
        target_params=0.2,
        fraction=0.2,
        epochs_per_round=0,
    )
    macs, params = tfc.estimate_slim_cost(slim)
    assert macs <= 0.5 * dense[0] and params <= 0.2 * dense[1]
    assert rounds[-1]["params_fraction"] <= 0.2
    assert len(rounds) >= 2


def test_the_last_allowed_round_prunes_to_the_target():
    x, y = helpers.data(16)
    slim, rounds = tfc.iterative_prune(
        helpers.conv_model(),
        (x, y),
        target_macs=0.2,
        fraction=0.05,
        max_rounds=2,
        epochs_per_round=0,
    )
    assert len(rounds) == 2
    assert rounds[0]["macs_fraction"] > 0.2 >= rounds[1]["macs_fraction"]
