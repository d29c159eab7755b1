"""Budgets, numbers, pruning and controllers on bad or edge-case inputs."""

import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import app
from absl import flags
from absl.testing import flagsaver

import tf_compact as tfc
from tests.robustness.helpers import assert_unchanged
from tests.robustness.helpers import snapshot
from tf_compact.callbacks.penalty_controller import bounded_exp
from tf_compact.cli import compress as compress_cli
from tf_compact.internal.targets import parse_target
from tf_compact.internal.targets import parse_target_text
from tf_compact.pipeline.iterative import iterative_prune

CLASSES = 3


def tiny_model(name="tiny"):
    """Conv-BN-ReLU x2, GAP, Dense: 8x8x1 in, 3 logits out."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, padding="same", name="conv_a"),
            keras.layers.BatchNormalization(name="bn_a"),
            keras.layers.ReLU(),
            keras.layers.Conv2D(16, 3, 2, padding="same", name="conv_b"),
            keras.layers.BatchNormalization(name="bn_b"),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(CLASSES, name="head"),
        ],
        name=name,
    )


def tiny_data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    y = (x[:, 0, 0, 0] > 0).astype("int64") + (x[:, 1, 1, 0] > 0)
    return x, y


def sparsifier(model=None):
    penalty = tfc.GroupLasso(strength=1e-3, proximal=True)
    trainer = tfc.Sparsifier(model or tiny_model(), sparsity=penalty)
    trainer.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return trainer


def compiled(model):
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def fit_quietly(trainer, callbacks, epochs=1, **kwargs):
    x, y = tiny_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trainer.fit(
            x,
            y,
            batch_size=16,
            epochs=epochs,
            verbose=0,
            callbacks=callbacks,
            **kwargs,
        )


# Item 4: one target parser.

GOOD_TARGETS = [
    (0.25, 0.25),
    (np.float32(0.5), 0.5),
    (np.float64(1.0), 1.0),
    (1, 1.0),
    (2, 2),
    (40_000, 40_000),
    (np.int64(3), 3),
    (np.int32(40_000), 40_000),
]


@pytest.mark.parametrize(("value", "expected"), GOOD_TARGETS)
def test_parse_target_accepts_fractions_and_int_counts(value, expected):
    parsed = parse_target("target_macs", value)
    assert parsed == expected
    assert type(parsed) is type(expected)


BAD_TARGETS = [
    (1.5, "as an int \\(e.g. target_macs=40000\\).*target_macs=1.5"),
    (40000.0, "as an int \\(e.g. target_macs=40000\\).*target_macs=40000.0"),
    (float("nan"), "Received: target_macs=nan"),
    (float("inf"), "Received: target_macs=inf"),
    (-0.5, "Received: target_macs=-0.5"),
    (0, "Received: target_macs=0"),
    (0.0, "Received: target_macs=0.0"),
    (True, "Received: target_macs=True of type bool"),
    ("0.5", "Received: target_macs='0.5' of type str"),
    (np.float32("nan"), "Received: target_macs=np.float32\\(nan\\)"),
]


def _prune(value):
    tfc.prune(tiny_model(), target_macs=value)


def _prune_masks(value):
    tfc.pruning.prune_masks(tiny_model(), target_macs=value)


def _budget(value):
    tfc.callbacks.BudgetController(target_macs=value)


def _iterative_callback(value):
    tfc.callbacks.IterativePruning(target_macs=value)


def _gradual(value):
    tfc.callbacks.GradualPruning(target_macs=value, end_step=10)


def _iterative_prune(value):
    iterative_prune(tiny_model(), tiny_data(), target_macs=value)


def _compress(value):
    x, y = tiny_data(8)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    tfc.compress(
        tiny_model(),
        data,
        data,
        method=tfc.methods.OneShot(target_macs=value),
    )


ENTRY_POINTS = [
    _prune,
    _prune_masks,
    _budget,
    _iterative_callback,
    _gradual,
    _iterative_prune,
    _compress,
]


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("value", "pattern"), BAD_TARGETS)
def test_every_entry_point_refuses_bad_targets(entry, value, pattern):
    with pytest.raises(ValueError, match="`target_macs`.*" + pattern):
        entry(value)


def test_a_count_above_the_model_warns_that_nothing_is_pruned():
    model = tiny_model()
    macs = int(tfc.profile(model).macs)
    with pytest.warns(UserWarning, match=f"target_macs={10 * macs}.*removes"):
        slim = tfc.prune(model, target_macs=10 * macs)
    assert int(tfc.profile(slim).macs) == macs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tfc.prune(tiny_model(), target_macs=macs // 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.25", 0.25), ("40000", 40000), ("1.2M", 1_200_000), ("40k", 40000)],
)
def test_cli_reads_fractions_and_counts(text, expected):
    flag = flags.FLAGS["target_macs"]
    assert flag.parser.parse(text) == expected
    assert parse_target_text("target_macs", text) == expected


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1.5", "as an int.*target_macs=1.5"),
        ("nan", "target_macs='nan'"),
        ("inf", "target_macs='inf'"),
        ("-1", "target_macs='-1'"),
    ],
)
def test_cli_refuses_bad_target_flags(text, pattern):
    flag = flags.FLAGS["target_macs"]
    with pytest.raises(flags.IllegalFlagValueError, match=pattern):
        flag.parse(text)


def test_cli_main_refuses_a_float_count_before_any_work():
    if not flags.FLAGS.is_parsed():
        flags.FLAGS(["pytest"])
    saved = flagsaver.flagsaver(target_macs=1.5)
    with saved, pytest.raises(app.UsageError, match="as an int.*=1.5"):
        compress_cli.main(["compress"])


def test_absolute_counts_prune_to_the_count():
    model = tiny_model()
    before = snapshot(model)
    dense = tfc.profile(model).macs
    count = np.int64(dense // 3)
    pruned = tfc.prune(model, target_macs=count)
    assert tfc.profile(pruned).macs <= count
    assert tfc.profile(pruned).macs > 0.5 * (dense // 3)
    assert_unchanged(model, before)


def test_an_unreachable_count_names_what_was_given():
    with pytest.raises(ValueError, match="cannot be pruned.*target_macs=2$"):
        tfc.prune(tiny_model(), target_macs=2)


# Numbers: NumPy scalars are numbers, bools are not.

NUMPY_NUMBERS = [
    lambda: tfc.prune(tiny_model(), ratio=np.float32(0.25)),
    lambda: tfc.prune(tiny_model(), ratio=0.25, min_channels=np.int64(2)),
    lambda: tfc.callbacks.BudgetController(
        target_macs=np.float32(0.5),
        gain=np.float32(2.0),
        tolerance=np.float64(0.02),
        max_change=np.float32(2.0),
        update_every=np.int64(5),
    ),
    lambda: tfc.callbacks.SparsityController(
        data=tiny_data(4), gain=np.float32(0.5), setpoint=np.float64(0.1)
    ),
    lambda: tfc.callbacks.SparsityController(
        monitor="loss", reference=np.float32(0.3)
    ),
    lambda: tfc.callbacks.IterativePruning(
        target_params=np.float64(0.5),
        fraction=np.float32(0.2),
        every=np.int64(2),
        start_epoch=np.int32(1),
    ),
    lambda: tfc.callbacks.GradualPruning(
        target_macs=np.int64(40_000), end_step=np.int64(10)
    ),
    lambda: tfc.GroupLasso(strength=np.float32(1e-3)),
]


@pytest.mark.parametrize("build", NUMPY_NUMBERS)
def test_numpy_scalars_are_accepted_as_numbers(build):
    build()


BOOLS = [
    (lambda: tfc.prune(tiny_model(), ratio=False), "ratio=False"),
    (
        lambda: tfc.prune(tiny_model(), ratio=0.2, min_channels=True),
        "min_channels=True",
    ),
    (lambda: tfc.prune(tiny_model(), threshold=True), "threshold=True"),
    (
        lambda: tfc.callbacks.BudgetController(target_macs=0.5, gain=True),
        "gain=True",
    ),
    (
        lambda: tfc.callbacks.SparsityController(
            data=tiny_data(4), setpoint=True
        ),
        "setpoint=True",
    ),
    (
        lambda: tfc.callbacks.SparsityController(
            monitor="loss", reference=True
        ),
        "reference=True",
    ),
    (
        lambda: tfc.callbacks.IterativePruning(target_macs=0.5, every=True),
        "every=True",
    ),
    (
        lambda: tfc.callbacks.IterativePruning(
            target_macs=0.5, start_epoch=1.5
        ),
        "start_epoch=1.5",
    ),
    (
        lambda: tfc.callbacks.GradualPruning(target_macs=0.5, end_step=True),
        "end_step=True",
    ),
    (lambda: tfc.GroupLasso(strength=True), "strength=True"),
]


@pytest.mark.parametrize(("build", "pattern"), BOOLS)
def test_bools_are_refused_where_a_number_is_expected(build, pattern):
    with pytest.raises(ValueError, match="Invalid value.*" + pattern):
        build()


# Item 8: pruning.


def test_taylor_on_an_empty_dataset_raises():
    model = compiled(tiny_model())
    before = snapshot(model)
    x, y = tiny_data()
    empty = tf.data.Dataset.from_tensor_slices((x[:0], y[:0])).batch(4)
    for call in (
        lambda: tfc.group_importance(model, criterion="taylor", data=empty),
        lambda: tfc.prune(model, ratio=0.5, importance="taylor", data=empty),
        lambda: tfc.prune(
            model, ratio=0.5, importance="taylor", data=(x[:0], y[:0])
        ),
        lambda: tfc.prune(
            model, target_macs=0.5, scope="sensitivity", data=empty
        ),
        lambda: tfc.prune(
            model, target_macs=0.5, scope="sensitivity", data=x[:0]
        ),
    ):
        with pytest.raises(ValueError, match="`data`.*data holds no batch"):
            call()
    assert_unchanged(model, before)


def test_sensitivity_reads_an_x_y_pair_as_one_batch():
    model = tiny_model()
    before = snapshot(model)
    x, y = tiny_data()
    pruned = tfc.prune(
        model, target_macs=0.5, scope="sensitivity", data=(x, y)
    )
    assert tfc.profile(pruned).macs <= 0.5 * tfc.profile(model).macs
    assert_unchanged(model, before)


def _scores(model, bad):
    graph = tfc.ChannelGraph(model)
    scores = {g.name: np.ones(g.size) for g in graph.groups}
    scores["conv_b"] = scores["conv_b"].copy()
    scores["conv_b"][3] = bad
    return scores


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"threshold": math.nan}, "`threshold`.*threshold=nan"),
        ({"threshold": math.inf}, "`threshold`.*threshold=inf"),
        ({"ratio": math.nan}, "`ratio`.*ratio=nan"),
        ({"ratio": 0.5, "importance": math.nan}, "group 'conv_b'.*\\[3\\]"),
        ({"ratio": 0.5, "importance": math.inf}, "group 'conv_b'.*\\[3\\]"),
        ({"threshold": 0.5, "importance": -math.inf}, "group 'conv_b'"),
    ],
)
def test_nan_thresholds_and_scores_are_refused(kwargs, pattern):
    model = tiny_model()
    before = snapshot(model)
    if "importance" in kwargs:
        kwargs = dict(kwargs, importance=_scores(model, kwargs["importance"]))
    with pytest.raises(ValueError, match=pattern):
        tfc.prune(model, **kwargs)
    assert_unchanged(model, before)


def test_gradual_pruning_past_the_end_of_training_warns():
    pruning = tfc.callbacks.GradualPruning(
        target_macs=0.3, end_step=100, frequency=1
    )
    x, y = tiny_data()
    with pytest.warns(UserWarning) as record:
        sparsifier().fit(
            x, y, batch_size=16, epochs=2, verbose=0, callbacks=[pruning]
        )
    messages = [str(w.message) for w in record]
    # Raised from a callback inside Keras' fit, it points at the fit call.
    ours = [w for w in record if "GradualPruning" in str(w.message)]
    assert ours and {w.filename for w in ours} == {__file__}
    assert any(
        "end_step=100 lies past the end of training" in m
        and "step 4" in m
        and "target_macs=30.0%" in m
        for m in messages
    ), messages
    assert any(
        "before the budget was reached" in m and "points over" in m
        for m in messages
    ), messages


def test_iterative_pruning_with_too_few_epochs_warns():
    pruning = tfc.callbacks.IterativePruning(target_macs=0.05, fraction=0.2)
    x, y = tiny_data()
    with pytest.warns(UserWarning) as record:
        sparsifier().fit(
            x, y, batch_size=16, epochs=1, verbose=0, callbacks=[pruning]
        )
    messages = [str(w.message) for w in record]
    assert any(
        "1 epochs allow 1 round(s)" in m and "will likely not be met" in m
        for m in messages
    ), messages
    assert any(
        "before the budget was reached" in m and "target_macs=5.0%" in m
        for m in messages
    ), messages


def test_enough_epochs_do_not_warn():
    pruning = tfc.callbacks.IterativePruning(target_macs=0.9, fraction=0.2)
    x, y = tiny_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        sparsifier().fit(
            x, y, batch_size=16, epochs=1, verbose=0, callbacks=[pruning]
        )


# Item 10: the budget law never overflows.


def test_bounded_exp_clips_in_the_log_domain():
    assert bounded_exp(1e6, 2.0) == 2.0
    assert bounded_exp(-1e6, 2.0) == 0.5
    assert bounded_exp(math.inf, 2.0) == 2.0
    assert bounded_exp(math.nan, 2.0) == 1.0


@pytest.mark.parametrize("targeted", [True, False])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_macs": 10},
        {"target_macs": 0.001},
        {"target_macs": 0.5, "gain": 1e6},
    ],
    ids=["count", "tiny_fraction", "high_gain"],
)
def test_budget_controller_stays_finite(kwargs, targeted):
    controller = tfc.callbacks.BudgetController(
        targeted=targeted, update_every=1, **kwargs
    )
    history = fit_quietly(sparsifier(), [controller])
    strengths = history.history["sparsity_strength"]
    assert all(math.isfinite(s) for s in strengths)
    assert controller.min_strength <= strengths[-1] <= controller.max_strength


def test_sparsity_controller_stays_finite_on_a_huge_gap():
    controller = tfc.callbacks.SparsityController(
        monitor="loss", reference=1e6, gain=50.0
    )
    history = fit_quietly(sparsifier(), [controller], epochs=2)
    strengths = history.history["sparsity_strength"]
    assert all(math.isfinite(s) for s in strengths)
    # The gap is far below the setpoint: the strength doubles each epoch.
    assert strengths[1] == pytest.approx(2 * strengths[0], rel=1e-5)


# Item 14: controllers.


@pytest.mark.parametrize("label", [3, 7])
def test_sparsity_controller_refuses_labels_outside_the_outputs(label):
    x, y = tiny_data(8)
    y = y.copy()
    y[2] = label
    controller = tfc.callbacks.SparsityController(data=(x, y))
    trainer = sparsifier()
    before = snapshot(trainer.model)
    with pytest.raises(
        ValueError,
        match=f"labels lie in \\[0, {label}\\].*outputs 3 classes",
    ):
        fit_quietly(trainer, [controller])
    assert_unchanged(trainer.model, before)


def test_sparsity_controller_refuses_negative_labels():
    x, y = tiny_data(8)
    with pytest.raises(ValueError, match="class ids.*\\[-1, "):
        tfc.callbacks.SparsityController(data=(x, y - 1))


def test_sparsity_controller_raises_on_a_missing_monitor_key():
    controller = tfc.callbacks.SparsityController(
        monitor="val_acc", reference=0.9, metric="accuracy"
    )
    pattern = "'val_acc' is not in the epoch logs.*Available keys:.*'loss'"
    with pytest.raises(ValueError, match=pattern):
        fit_quietly(sparsifier(), [controller], epochs=2)


@pytest.mark.parametrize("activation", ["sigmoid", None])
@pytest.mark.parametrize("metric", ["accuracy", "loss"])
def test_sparsity_controller_scores_a_binary_sigmoid_head(metric, activation):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(
        inputs, keras.layers.Dense(1, activation=activation)(hidden)
    )
    before = snapshot(model)
    controller = tfc.callbacks.SparsityController(
        data=(x, y[:, None]), metric=metric
    )
    score = controller._score(model)
    assert np.isfinite(score)
    if metric == "accuracy":
        threshold = 0.5 if activation else 0.0
        predicted = model(x, training=False).numpy()[:, 0] > threshold
        assert score == pytest.approx(np.mean(predicted == (y > 0)))
    assert_unchanged(model, before)
