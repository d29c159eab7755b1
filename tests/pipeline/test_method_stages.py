"""The methods of `compress`: iterative, one-shot, gradual, budget."""

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tf_compact import methods
from tf_compact.pipeline import plan as plan_lib
from tf_compact.pipeline import pruning_stages
from tf_compact.pipeline import sparse_training
from tf_compact.pipeline import stages as stages_lib
from tf_compact.pipeline import training as training_lib
from tf_compact.pipeline.compress import compress


def _teacher():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(16, 3, padding="same", name="conv2")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(12, activation="relu", name="fc")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, 8, 8, 1)).astype("float32")
    y = (np.arange(n) % 3).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def _slim_plan(method):
    return [
        s
        for s in plan_lib.stages_for(method)
        if s.name in ("teacher", "lighten", "sparsify", "slim")
    ]


def _slim(method, epochs=1, output_dir=None, training=None):
    teacher = _teacher()
    result = compress(
        teacher,
        _data(),
        _data(32),
        method=method,
        epochs=epochs,
        stages=_slim_plan(method.name),
        output_dir=output_dir,
        training=training,
        verbose=0,
    )
    return teacher, result.report


def test_iterative_meets_the_macs_target_in_rounds(tmp_path):
    teacher, report = _slim(
        methods.Iterative(target_macs=0.4), epochs=0, output_dir=str(tmp_path)
    )
    dense = tfc.profile(teacher).macs
    slim_macs = report["student"]["macs"]
    assert slim_macs <= 0.4 * dense * 1.001
    assert slim_macs > 0.1 * dense
    with open(tmp_path / "stages.json") as f:
        rounds = json.load(f)["stages"]["slim"]["rounds"]
    assert len(rounds) >= 2
    assert rounds[-1]["macs_fraction"] <= 0.4 + 1e-3


@pytest.mark.parametrize(
    "method", ["oneshot", "gradual", "iterative", "budget"]
)
def test_pruning_methods_with_both_targets_meet_both(method):
    teacher, report = _slim(
        methods.METHODS[method](target_macs=0.5, target_params=0.2)
    )
    prof = tfc.profile(teacher)
    student = report["student"]
    assert student["macs"] <= 0.5 * prof.macs * 1.001
    assert student["params"] <= 0.2 * prof.params * 1.001


def test_gradual_shrinks_during_training_and_slims_by_its_mask(tmp_path):
    teacher, report = _slim(
        methods.Gradual(target_macs=0.4, round_to=4),
        epochs=3,
        output_dir=str(tmp_path),
    )
    dense = tfc.profile(teacher).macs
    assert report["student"]["macs"] <= 0.4 * dense * 1.001
    with open(tmp_path / "stages.json") as f:
        history = json.load(f)["stages"]["slim"]["history"]
    # 4 batches per epoch, the budget reached after 2/3 of the 12 steps:
    # the first epoch ends part-way, the last two at the final mask.
    fractions = history["slim_macs_fraction"]
    assert len(fractions) == 3
    with open(tmp_path / "stages.json") as f:
        updates = json.load(f)["stages"]["slim"]["schedule"]
    assert updates[-1]["step"] == 8
    assert updates[-1]["goal_macs"] == pytest.approx(0.4)
    assert all(u["macs_fraction"] <= u["goal_macs"] for u in updates)
    assert 0.4 < fractions[0] < 1.0
    assert fractions[1] == fractions[2] <= 0.4
    slim = keras.saving.load_model(tmp_path / "slim.keras")
    widths = [
        layer.filters for layer in slim.layers if hasattr(layer, "filters")
    ]
    assert all(w % 4 == 0 for w in widths)


def test_gradual_without_epochs_prunes_to_the_target_at_once():
    teacher, report = _slim(methods.Gradual(target_params=0.3), epochs=0)
    params = tfc.profile(teacher).params
    assert 0.1 * params < report["student"]["params"] <= 0.3 * params * 1.001


def test_gradual_rejects_a_gradient_criterion_before_any_stage():
    with pytest.raises(ValueError, match="ranks channels by their weights"):
        methods.Gradual(target_macs=0.5, importance="taylor")


def test_targets_are_fractions_of_the_teacher_after_lightening():
    teacher, report = _slim(
        methods.OneShot(target_params=0.15),
        epochs=0,
        training=methods.Training(lighten=("gap_head",)),
    )
    dense = tfc.profile(teacher).params
    lightened = tfc.profile(tfc.lighten.gap_head(teacher)).params
    assert lightened < 0.5 * dense
    params = report["student"]["params"]
    assert params <= 0.15 * dense * 1.02
    assert params > 0.1 * dense


def test_gap_head_student_is_fitted_on_the_training_data(tmp_path):
    teacher = _teacher()
    plan = [s for s in plan_lib.stages_for("oneshot") if s.name == "lighten"]
    plan.insert(0, plan_lib.stages_for("oneshot")[0])
    compress(
        teacher,
        _data(),
        _data(32),
        method=methods.OneShot(target_macs=0.5),
        training=methods.Training(lighten=("gap_head",)),
        stages=plan,
        output_dir=str(tmp_path),
        verbose=0,
    )
    student = keras.saving.load_model(tmp_path / "student_init.keras")
    x = np.concatenate([b[0] for b in _data()])
    fitted = tfc.lighten.gap_head(teacher, data=_data())
    np.testing.assert_allclose(student(x), fitted(x), rtol=1e-4, atol=1e-5)
    summed = tfc.lighten.gap_head(teacher)
    assert not np.allclose(student(x), summed(x), atol=1e-3)


def test_binding_target_is_the_one_a_macs_prune_misses():
    student = _teacher()
    kind, value = pruning_stages._binding(
        student, {"macs": 0.9, "params": 0.05}
    )
    assert (kind, value) == ("params", 0.05)
    kind, value = pruning_stages._binding(student, {"macs": 0.3, "params": 1.0})
    assert (kind, value) == ("macs", 0.3)


class _Ctx:
    def __init__(self, data):
        self.train_data = data


def test_initial_strength_makes_the_penalty_a_share_of_the_loss():
    student = _teacher()
    penalty = tfc.GroupLasso(strength=1e-4)
    penalty.bind(student)
    ctx = _Ctx(_data())
    strength = sparse_training.initial_strength(ctx, student, penalty, 0.2)
    x, y = next(iter(ctx.train_data))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        y, student(x)
    )
    penalty.strength.assign(strength)
    ratio = float(penalty(student)) / float(loss)
    assert ratio == pytest.approx(0.2, rel=1e-3)


def test_budget_method_runs_with_proximal_steps(tmp_path):
    teacher, report = _slim(
        methods.Budget(target_macs=0.6), output_dir=str(tmp_path)
    )
    assert report["student"]["macs"] <= 0.6 * tfc.profile(teacher).macs * 1.01
    # The record says whether sparsity alone met the budget.
    with open(tmp_path / "stages.json") as f:
        sparsify = json.load(f)["stages"]["sparsify"]
    assert isinstance(sparsify["met_by_sparsity"], bool)


@pytest.mark.parametrize(
    "method", [methods.Controller(), methods.Budget(target_macs=0.6)]
)
def test_sparse_training_gives_no_restore_warning(method):
    # The stage's own BN recalibration after `fit` is no callback that set
    # earlier weights: the controller's restore check stays quiet.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _slim(method)
    said = [str(w.message) for w in caught]
    assert not [m for m in said if "train-end work" in m], said


def test_steps_per_epoch():
    assert training_lib.steps_per_epoch(_data(64)) == 4
    assert training_lib.steps_per_epoch(_data(64).repeat()) is None
    assert training_lib.steps_per_epoch([(1, 2)]) is None


def test_auto_picks_oneshot_with_a_target_else_the_controller():
    plan = plan_lib.stages_for("oneshot")[:1]
    for kwargs, expected in (
        ({"method": methods.Auto(target_params=0.5)}, "oneshot"),
        ({"method": methods.Auto(target_latency=5.0)}, "oneshot"),
        ({"method": "auto"}, "controller"),
        ({}, "controller"),
    ):
        result = compress(_teacher(), _data(), stages=plan, verbose=0, **kwargs)
        assert result.report["settings"]["method"] == expected


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_kd_stage_learning_rate_follows_the_schedule(schedule):
    class Ctx:
        settings = {"learning_rate": 1e-3, "lr_schedule": schedule}
        train_data = _data(64)

    model = _teacher()
    decay = stages_lib.decay_steps(Ctx, 2)
    distiller = tfc.Distiller(
        model, keras.models.clone_model(model), [tfc.LogitsKD()]
    )
    stages_lib._compile(distiller, model, 1e-3, decay)
    rate = distiller.optimizer.learning_rate
    if schedule == "constant":
        assert decay is None
        assert float(keras.ops.convert_to_numpy(rate)) == pytest.approx(1e-3)
        return
    assert decay == 8
    distiller.optimizer.iterations.assign(8)
    end = float(keras.ops.convert_to_numpy(distiller.optimizer.learning_rate))
    assert end == pytest.approx(0.0, abs=1e-9)


def test_feature_kd_adds_feature_distillation_to_the_kd_stages():
    class Ctx:
        settings = {"temperature": 2.0, "feature_kd": True}

    names = [type(loss).__name__ for loss in stages_lib.kd_losses(Ctx)]
    assert names == ["LogitsKD", "FeatureKD"]
    Ctx.settings = {"temperature": 2.0}
    (plain,) = stages_lib.kd_losses(Ctx)
    assert plain.standardize is False
    Ctx.settings = {"temperature": 2.0, "standardize_logits": True}
    (standardized,) = stages_lib.kd_losses(Ctx)
    assert standardized.standardize is True
    assert standardized.temperature == 2.0
    teacher, report = _slim(
        methods.OneShot(target_macs=0.5),
        training=methods.Training(feature_kd=True),
    )
    assert report["settings"]["feature_kd"] is True
    assert report["student"]["macs"] <= 0.5 * tfc.profile(teacher).macs * 1.001


def test_student_loss_weight_reaches_every_kd_stage(tmp_path):
    seen = []
    original = tfc.Distiller.__init__

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("student_loss_weight"))
        original(self, *args, **kwargs)

    tfc.Distiller.__init__ = spy
    try:
        result = compress(
            _teacher(),
            _data(),
            _data(32),
            method=methods.OneShot(target_macs=0.5),
            epochs=1,
            training=methods.Training(
                finetune_epochs=1, student_loss_weight=0.2
            ),
            export=methods.Export(tflite_modes=("float32",), benchmark_runs=1),
            verbose=0,
        )
    finally:
        tfc.Distiller.__init__ = original
    assert seen == [0.2, 0.2]
    assert result.report["settings"]["student_loss_weight"] == 0.2


@pytest.mark.parametrize("criterion", ["l1", "bn_gamma", "taylor"])
def test_oneshot_prunes_by_the_chosen_importance(criterion, tmp_path):
    from tf_compact.pruning.prune import prune

    teacher = _teacher()
    gamma = teacher.get_layer("bn1").gamma
    gamma.assign(np.random.default_rng(1).uniform(0.01, 0.3, gamma.shape))
    plan = _slim_plan("oneshot")
    compress(
        teacher,
        _data(),
        _data(32),
        method=methods.OneShot(target_macs=0.4, importance=criterion),
        epochs=0,
        stages=plan,
        output_dir=str(tmp_path),
        verbose=0,
    )
    slim = keras.saving.load_model(tmp_path / "slim.keras")
    reference = keras.models.clone_model(teacher)
    reference.set_weights(teacher.get_weights())
    training_lib.compile_classifier(reference)
    expected = prune(
        reference,
        importance=criterion,
        target_macs=0.4,
        data=_data().take(8),
    )
    # The slim stage recalibrates the BN statistics on the training data.
    tfc.sparsity.recalibrate_batch_norm(expected, _data())
    x = np.concatenate([b[0] for b in _data()])
    np.testing.assert_allclose(slim(x), expected(x), rtol=1e-4, atol=1e-5)
    if criterion != "l1":  # L1 and L2 rank these random kernels alike
        l2 = prune(teacher, importance="l2", target_macs=0.4)
        assert not np.allclose(slim(x), l2(x), atol=1e-4)


def test_oneshot_prunes_to_the_given_widths(tmp_path):
    teacher, report = _slim(
        methods.OneShot(widths={"conv1": 4, "fc": 6}, target_params=0.6),
        output_dir=str(tmp_path),
    )
    assert report["settings"]["method"] == "oneshot"
    assert report["settings"]["widths"] == {"conv1": 4, "fc": 6}
    slim = keras.saving.load_model(str(tmp_path / "slim.keras"))
    assert stages_lib.layer_widths(slim) == {
        "conv1": 4,
        "conv2": 16,
        "fc": 6,
        "logits": 3,
    }
    # The kept channels are conv1's four strongest by L2, as tfc.prune
    # picks them from the teacher.
    expected = tfc.prune(teacher, widths={"conv1": 4, "fc": 6})
    assert expected.count_params() == slim.count_params()
    assert report["student"]["params"] <= 0.6 * teacher.count_params()


def test_widths_missing_the_target_after_lighten_fail_in_the_stage():
    with pytest.raises(ValueError, match="over `target_macs`"):
        _slim(
            methods.OneShot(widths={"conv1": 8}, target_macs=0.2),
            epochs=0,
            training=methods.Training(lighten=("gap_head",)),
        )


def test_oneshot_sensitivity_allocation_matches_prune(tmp_path):
    teacher, report = _slim(
        methods.OneShot(target_params=0.4, allocation="sensitivity"),
        epochs=0,
        output_dir=str(tmp_path),
    )
    assert report["settings"]["allocation"] == "sensitivity"
    slim = keras.saving.load_model(str(tmp_path / "slim.keras"))
    expected = tfc.prune(
        teacher,
        target_params=0.4,
        scope="sensitivity",
        data=_data().take(8),
    )
    assert stages_lib.layer_widths(slim) == stages_lib.layer_widths(expected)
    assert slim.count_params() <= 0.4 * teacher.count_params()


def test_oneshot_sensitivity_allocation_under_a_latency_budget(tmp_path):
    # Times "taken on a phone": each group's layers cost in proportion to
    # its width; the whole model 10 ms.
    table = tmp_path / "phone.csv"
    rows = ["name,width,avg_ms", "model,,10.0"]
    for name, size in (("conv1", 8), ("conv2", 16), ("fc", 12)):
        for width in (1, size // 2, size):
            rows.append(f"{name},{width},{3.0 * width / size}")
    table.write_text("\n".join(rows) + "\n")
    method = methods.OneShot(
        target_latency=6.0, latency_table=str(table), allocation="sensitivity"
    )
    teacher, report = _slim(method, epochs=0, output_dir=str(tmp_path / "r"))
    assert report["settings"]["allocation"] == "sensitivity"
    slim = keras.saving.load_model(str(tmp_path / "r" / "slim.keras"))
    widths = stages_lib.layer_widths(slim)
    loaded = tfc.pruning.LatencyTable.from_benchmark_model(str(table))
    kept = {n: widths[n] for n in ("conv1", "conv2", "fc")}
    assert loaded.predict(kept) <= 6.0
