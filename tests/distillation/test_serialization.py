"""Distiller config round trip and `.keras` save/load."""

import keras
import numpy as np

import tf_compact as tfc
from tests.distillation import models


def _distiller(sparsity=None):
    teacher, student = models.pair()
    losses = [
        tfc.LogitsKD(3.0),
        tfc.FeatureKD(),
        tfc.AttentionTransfer(pairs=[("r2", "r2")]),
        tfc.ContrastiveKD("gap", "gap", embedding_dim=8, memory_size=16),
        keras.distillation.LogitsDistillation(
            temperature=2.0, loss=keras.losses.KLDivergence()
        ),
    ]
    return tfc.Distiller(
        teacher,
        student,
        losses,
        distillation_loss_weights=[1.0, 0.5, 0.1, 0.2, 0.3],
        student_loss_weight=0.4,
        sparsity=sparsity,
    )


def test_get_config_from_config_round_trip():
    distiller = _distiller(sparsity=models.L1Stand(0.02))
    config = distiller.get_config()
    restored = tfc.Distiller.from_config(config)
    assert restored.get_config() == config
    assert restored.student_loss_weight == 0.4
    assert [type(x) for x in restored.distillation_losses] == [
        type(x) for x in distiller.distillation_losses
    ]
    assert len(restored.kd_modules) == len(distiller.kd_modules) == 2
    assert isinstance(restored.sparsity, models.L1Stand)


def test_saved_and_reloaded_keras_file_gives_identical_outputs(tmp_path):
    penalty = models.L1Stand(0.02)
    distiller = models.compile_distiller(_distiller(sparsity=penalty))
    x, y = models.data(16)
    distiller.fit(x, y, batch_size=8, epochs=1, verbose=0)
    penalty.strength.assign(0.125)
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, tfc.Distiller)
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), distiller.predict(x, verbose=0)
    )
    for a, b in zip(loaded.kd_modules, distiller.kd_modules):
        for va, vb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(va.numpy(), vb.numpy())
    assert float(loaded.sparsity.strength.numpy()) == 0.125
    before = loaded.evaluate(x, y, verbose=0, return_dict=True)
    after = distiller.evaluate(x, y, verbose=0, return_dict=True)
    for key in ("loss", "feature_kd", "contrastive_kd", "sparsity_loss"):
        np.testing.assert_allclose(before[key], after[key], rtol=1e-5)
    more = loaded.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(more["loss"]).all()


def test_exported_student_is_the_plain_student(tmp_path):
    distiller = _distiller()
    x, _ = models.data(4)
    path = str(tmp_path / "student.keras")
    distiller.student.save(path)
    student = keras.models.load_model(path)
    assert student.name == "student"
    np.testing.assert_allclose(
        student.predict(x, verbose=0), distiller.predict(x, verbose=0)
    )


def test_automatic_pairs_are_saved_as_the_pairs_used(tmp_path, monkeypatch):
    from tf_compact.distillation import features

    teacher, student = models.pair()
    distiller = tfc.Distiller(teacher, student, [tfc.FeatureKD()])
    (used,) = distiller._plan.pairs
    (entry,) = distiller.get_config()["distillation_losses"]
    assert entry["config"]["pairs"] == [list(pair) for pair in used]
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    # Another automatic choice (a later version, say) does not change
    # what the saved Distiller pairs, so its adapters load.
    monkeypatch.setattr(features, "auto_pairs", lambda t, s: used[:1])
    loaded = keras.models.load_model(path)
    assert [tuple(p) for p in loaded._plan.pairs[0]] == [tuple(p) for p in used]
