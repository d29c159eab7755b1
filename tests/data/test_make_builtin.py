"""The script that builds the shipped Fashion-MNIST subset."""

import numpy as np
import pytest

from tests.data import helpers
from tf_compact.data import make_builtin


def test_balanced_indices_draws_per_class():
    labels = np.repeat(np.arange(4), [5, 6, 7, 8])
    rng = np.random.default_rng(0)
    idx = make_builtin.balanced_indices(labels, 3, rng)
    assert np.all(np.diff(idx) > 0)
    assert np.bincount(labels[idx]).tolist() == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="fewer than per_class=6"):
        make_builtin.balanced_indices(labels, 6, rng)


def test_main_writes_a_loadable_subset(tmp_path, monkeypatch, capsys):
    x, y = helpers.real_fashion_images(200, split="train")
    source = str(tmp_path / "src")
    helpers.write_idx_dir(source, x[:150], y[:150], x[150:], y[150:])
    monkeypatch.setattr(make_builtin, "TRAIN_PER_CLASS", 3)
    monkeypatch.setattr(make_builtin, "TEST_PER_CLASS", 2)
    out = str(tmp_path / "subset.npz")
    assert make_builtin.main([source, out]) == 0
    assert "30 train and 20 test" in capsys.readouterr().out
    with np.load(out) as npz:
        assert npz["x_train"].shape == (30, 28, 28, 1)
        assert npz["x_train"].dtype == np.uint8
        assert np.bincount(npz["y_test"]).tolist() == [2] * 10
        assert npz["class_names"][9] == "Ankle boot"
    assert make_builtin.main(["a", "b", "c"]) == 2
