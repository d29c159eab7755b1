"""Shared checks of the robustness tests."""

import numpy as np


def snapshot(model):
    """Copies every variable of `model` (weights and BN moving stats)."""
    return [np.array(v.numpy(), copy=True) for v in model.variables]


def assert_unchanged(model, before):
    """Asserts `model`'s variables still equal the `snapshot` `before`."""
    after = [v.numpy() for v in model.variables]
    assert len(after) == len(before), "the model's variables changed"
    for variable, old, new in zip(model.variables, before, after):
        np.testing.assert_array_equal(
            new, old, err_msg=f"{variable.path} changed"
        )
