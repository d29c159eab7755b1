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


def fast_compress(verbose=0):
    """`tfc.compress` keyword arguments for a quick run: one-shot to half
    the MACs, one epoch, no fine-tune, one float32 file timed twice."""
    from tf_compact import methods

    return {
        "method": methods.OneShot(target_macs=0.5),
        "epochs": 1,
        "training": methods.Training(finetune_epochs=0),
        "export": methods.Export(tflite_modes=("float32",), benchmark_runs=2),
        "verbose": verbose,
    }
