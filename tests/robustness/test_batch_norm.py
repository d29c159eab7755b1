"""BN statistics that match the weights: recalibration, teacher check,
and the student `compress` reports, converts and saves."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.robustness.helpers import assert_unchanged
from tests.robustness.helpers import snapshot
from tf_compact.pipeline import training

CLASSES = 4
SIZE = 12


def _data(n, seed):
    """Images whose class is a bright band; far from BN's initial stats."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.normal(0.0, 1.0, (n, SIZE, SIZE, 3)).astype("float32")
    band = SIZE // CLASSES
    for c in range(CLASSES):
        x[y == c, c * band : (c + 1) * band, :, c % 3] += 2.0
    return 3.0 * x + 8.0, y.astype("int32")


def _net(momentum):
    """A keras.applications-style CNN: conv → BN(momentum) → ReLU blocks."""
    inputs = keras.Input((SIZE, SIZE, 3))
    h = inputs
    for filters in (8, 16, 16):
        h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(h)
        h = keras.layers.BatchNormalization(momentum=momentum)(h)
        h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(h))


@pytest.fixture(scope="module")
def data():
    x, y = _data(256, 0)
    xt, yt = _data(128, 1)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    test = tf.data.Dataset.from_tensor_slices((xt, yt)).batch(32)
    return train, test


def _trained(momentum, train):
    keras.utils.set_random_seed(0)
    model = _net(momentum)
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(train, epochs=19, verbose=0)  # 304 steps
    return model


@pytest.fixture(scope="module")
def stale(data):
    """BN momentum 0.999, a few hundred steps: the statistics lag."""
    return _trained(0.999, data[0])


@pytest.fixture(scope="module")
def healthy(data):
    return _trained(0.9, data[0])


def _compress(teacher, data, tmp_path, **kwargs):
    train, test = data
    settings = {
        "method": tfc.methods.OneShot(target_macs=0.5),
        "epochs": 1,
        "training": tfc.methods.Training(
            finetune_epochs=0,
            recalibrate_teacher=kwargs.pop("recalibrate_teacher", False),
        ),
        "export": tfc.methods.Export(
            tflite_modes=("float32",), benchmark_runs=2
        ),
        "output_dir": str(tmp_path),
        "verbose": 0,
    }
    settings.update(kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tfc.compress(teacher, train, test_data=test, **settings)
    messages = [
        str(w.message) for w in caught if issubclass(w.category, UserWarning)
    ]
    return result, [m for m in messages if "BN" in m]


def _fresh_accuracy(path, data):
    model = keras.saving.load_model(path, compile=False)
    tfc.sparsity.recalibrate_batch_norm(model, data[0])
    return training.accuracy(model, data[1])


def _report_accuracy(tmp_path, result, data):
    reported = result.report["student"]["accuracy"]
    fresh = _fresh_accuracy(str(tmp_path / "slim_finetuned.keras"), data)
    return reported, fresh


def test_stale_teacher_is_reported_and_left_unchanged(stale, data, tmp_path):
    before = snapshot(stale)
    result, messages = _compress(stale, data, tmp_path)
    check = result.report["teacher_check"]
    assert check["stale"] and not check["recalibrated"]
    assert check["gap_pp"] > 10.0
    assert len(messages) == 1
    assert "recalibrate_teacher=True" in messages[0]
    assert "'" + stale.name + "'" in messages[0]
    markdown = (tmp_path / "report.md").read_text()
    assert "Teacher check" in markdown
    assert "BN statistics of slim recalibrated" in markdown
    # What compress reports is what the saved student scores after a
    # fresh recalibration: its statistics already matched its weights.
    reported, fresh = _report_accuracy(tmp_path, result, data)
    assert abs(reported - fresh) <= 0.005
    entry = result.report["bn_recalibration"]["slim"]
    assert entry["batches"] >= 1 and entry["seconds"] >= 0.0
    assert entry["accuracy_after"] == reported
    assert_unchanged(stale, before)


def test_healthy_teacher_gives_no_warning(healthy, data, tmp_path):
    result, messages = _compress(healthy, data, tmp_path, epochs=0)
    assert messages == []
    check = result.report["teacher_check"]
    assert not check["stale"] and not check["near_chance"]
    assert check["message"] == ""


def test_recalibrate_teacher_works_on_a_copy(stale, data, tmp_path):
    before = snapshot(stale)
    result, messages = _compress(
        stale, data, tmp_path, epochs=0, recalibrate_teacher=True
    )
    # Asked for, the recalibration is logged, not advised in a warning.
    assert messages == []
    check = result.report["teacher_check"]
    assert check["recalibrated"]
    assert "a copy of it is recalibrated" in check["message"]
    entry = check["bn_recalibration"]
    assert entry["accuracy_after"] >= check["batch_stats_accuracy"] - 0.05
    assert entry["accuracy_after"] > entry["accuracy_before"]
    teacher_accuracy = result.report["teacher"]["accuracy"]
    assert teacher_accuracy >= check["batch_stats_accuracy"] - 0.05
    # The table tells the model given from the copy that taught.
    given = result.report["teacher"]["given_accuracy"]
    assert abs(given - training.accuracy(stale, data[1])) <= 1e-6
    table = result.table()
    assert "teacher as given (Keras)" in table
    assert "teacher, BN recalibrated copy (Keras)" in table
    assert_unchanged(stale, before)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, kwargs",
    [
        (tfc.methods.OneShot(0.5), {"finetune_epochs": 1}),
        (tfc.methods.Iterative(0.5), {}),
        (tfc.methods.Gradual(0.5), {}),
        (tfc.methods.Budget(0.5), {}),
        (tfc.methods.Controller(), {}),
        (tfc.methods.Width(0.5), {}),
    ],
)
def test_every_method_reports_its_saved_student(
    stale, data, tmp_path, method, kwargs
):
    before = snapshot(stale)
    training = tfc.methods.Training(**{"finetune_epochs": 0, **kwargs})
    result, _ = _compress(
        stale, data, tmp_path, method=method, training=training
    )
    reported, fresh = _report_accuracy(tmp_path, result, data)
    assert abs(reported - fresh) <= 0.005
    done = result.report["bn_recalibration"]
    assert done and all(entry["batches"] >= 1 for entry in done.values())
    markdown = (tmp_path / "report.md").read_text()
    assert "recalibrated" in markdown
    assert_unchanged(stale, before)


def _conv_bn(momentum=0.9, dropout=0.0, trainable=True):
    layers = [
        keras.Input((4, 4, 1)),
        keras.layers.Conv2D(3, 1, use_bias=False),
    ]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(
        keras.layers.BatchNormalization(momentum=momentum, trainable=trainable)
    )
    return keras.Sequential(layers)


def _features(model, x):
    kernel = model.layers[0].kernel.numpy()[0, 0]
    return np.tensordot(x, kernel, axes=([3], [0])).reshape(-1, 3)


def _batches(rng, n=3):
    """Batches from different distributions (an unshuffled dataset)."""
    return [
        rng.normal(loc, scale, (8, 4, 4, 1)).astype("float32")
        for loc, scale in [(2.0, 3.0), (-1.0, 1.0), (5.0, 0.5)][:n]
    ]


@pytest.mark.parametrize(
    "form",
    ["array", "xy_tuple", "dataset_xy", "dataset_x", "list", "generator"],
)
def test_statistics_are_those_of_the_data_in_every_input_form(form):
    rng = np.random.default_rng(0)
    model = _conv_bn()
    x = np.concatenate(_batches(rng))
    y = np.zeros(len(x), "int32")
    forms = {
        "array": lambda: x,
        "xy_tuple": lambda: (x, y),
        "dataset_xy": lambda: tf.data.Dataset.from_tensor_slices((x, y)).batch(
            8
        ),
        "dataset_x": lambda: tf.data.Dataset.from_tensor_slices(x).batch(8),
        "list": lambda: [x[i : i + 8] for i in range(0, 24, 8)],
        "generator": lambda: ((x[i : i + 8], y[i : i + 8]) for i in (0, 8, 16)),
    }
    kernel = model.layers[0].kernel.numpy().copy()
    assert tfc.sparsity.recalibrate_batch_norm(model, forms[form]()) >= 1
    bn = model.layers[-1]
    feats = _features(model, x)
    # Pooled over every example, not the mean of per-batch variances.
    np.testing.assert_allclose(bn.moving_mean.numpy(), feats.mean(0), 1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), feats.var(0), 1e-4)
    assert bn.momentum == 0.9
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), kernel)


def test_dropout_runs_in_inference_mode_and_frozen_bn_is_set():
    rng = np.random.default_rng(1)
    model = _conv_bn(dropout=0.5, trainable=False)
    x = np.concatenate(_batches(rng))
    tfc.sparsity.recalibrate_batch_norm(model, x, batch_size=8)
    feats = _features(model, x)
    bn = model.layers[-1]
    np.testing.assert_allclose(bn.moving_variance.numpy(), feats.var(0), 1e-4)
    assert bn.trainable is False


def test_nested_models_and_dict_inputs():
    rng = np.random.default_rng(2)
    inner = _conv_bn()
    inputs = {"image": keras.Input((4, 4, 1), name="image")}
    outer_bn = keras.layers.BatchNormalization()
    model = keras.Model(inputs, outer_bn(inner(inputs["image"])))
    x = np.concatenate(_batches(rng))
    data = tf.data.Dataset.from_tensor_slices(({"image": x}, x[:, 0, 0, 0]))
    assert tfc.sparsity.recalibrate_batch_norm(model, data.batch(8)) == 3
    feats = _features(inner, x)
    bn = inner.layers[-1]
    np.testing.assert_allclose(bn.moving_mean.numpy(), feats.mean(0), 1e-4)
    # The outer BN sees the inner one's output: about zero mean.
    np.testing.assert_allclose(outer_bn.moving_mean.numpy(), 0.0, atol=0.3)


def test_max_batches_bounds_the_batches_read():
    model = _conv_bn()
    read = []

    def batches():
        for i in range(10):
            read.append(i)
            yield np.full((4, 4, 4, 1), float(i), "float32")

    assert tfc.sparsity.recalibrate_batch_norm(model, batches(), 2) == 2
    assert read == [0, 1]


@pytest.mark.parametrize(
    "data",
    [
        [],
        np.zeros((0, 4, 4, 1), "float32"),
        tf.data.Dataset.from_tensor_slices(np.zeros((0, 4, 4, 1))).batch(4),
    ],
    ids=["empty_list", "empty_array", "empty_dataset"],
)
def test_empty_data_is_refused_and_changes_nothing(data):
    model = _conv_bn()
    before = snapshot(model)
    with pytest.raises(ValueError, match="at least one batch of inputs"):
        tfc.sparsity.recalibrate_batch_norm(model, data)
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    "data, error, words",
    [
        (None, ValueError, "Received: data=None"),
        (3.5, TypeError, "data of type float"),
        (
            tf.data.Dataset.from_tensor_slices(np.ones((8, 4, 4, 1))),
            ValueError,
            r"batch the data first",
        ),
    ],
    ids=["none", "number", "unbatched"],
)
def test_bad_data_is_named(data, error, words):
    model = _conv_bn()
    before = snapshot(model)
    with pytest.raises(error, match=words):
        tfc.sparsity.recalibrate_batch_norm(model, data)
    assert_unchanged(model, before)


def test_a_failing_batch_leaves_the_statistics_unchanged():
    model = _conv_bn()
    before = snapshot(model)
    good = np.ones((4, 4, 4, 1), "float32")
    bad = np.ones((4, 5, 5, 2), "float32")
    with pytest.raises(ValueError, match=r"batch 1 of shape \(4, 5, 5, 2\)"):
        tfc.sparsity.recalibrate_batch_norm(model, [good, bad])
    assert_unchanged(model, before)
    assert "call" not in vars(model.layers[-1])


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_max_batches_must_be_a_positive_int(value):
    with pytest.raises(ValueError, match="max_batches"):
        tfc.sparsity.recalibrate_batch_norm(
            _conv_bn(), np.ones((4, 4, 4, 1)), max_batches=value
        )


def test_sensitivity_table_can_judge_each_cut_on_its_own_statistics():
    from tf_compact.graph import ChannelGraph
    from tf_compact.pruning.importance import group_importance
    from tf_compact.pruning.sensitivity import sensitivity_table

    rng = np.random.default_rng(3)
    model = _net(0.9)
    x = [rng.normal(8.0, 3.0, (16, SIZE, SIZE, 3)).astype("float32")]
    graph = ChannelGraph(model)
    scores = group_importance(model, graph, criterion="l2")

    def table(recalibrate):
        return sensitivity_table(
            model, graph, scores, x, step=4, recalibrate=recalibrate
        )

    before = snapshot(model)
    stale_plain, stale_recal = table(False), table(True)
    assert_unchanged(model, before)
    # Statistics that match the weights: what the model had does not count.
    tfc.sparsity.recalibrate_batch_norm(model, x)
    fresh_plain, fresh_recal = table(False), table(True)
    for name, row in fresh_recal.items():
        np.testing.assert_allclose(
            list(row.values()), list(stale_recal[name].values()), atol=1e-5
        )
    assert stale_plain != fresh_plain


@pytest.mark.slow
@pytest.mark.parametrize("flag", [True, False])
def test_cli_recalibrate_teacher_flag(tmp_path, flag):
    import json

    from absl import flags
    from absl.testing import flagsaver

    from tf_compact.cli import compress as cli

    if not flags.FLAGS.is_parsed():
        flags.FLAGS(["pytest"])
    out = tmp_path / "run"
    with flagsaver.flagsaver(
        limit=128,
        batch_size=64,
        teacher_epochs=1,
        epochs=0,
        finetune_epochs=0,
        method="oneshot",
        tflite_mode=["float32"],
        recalibrate_teacher=flag,
        output_dir=str(out),
    ):
        cli.main(["compress"])
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["recalibrate_teacher"] is flag
    assert report["teacher_check"]["recalibrated"] is flag


def test_measuring_many_models_does_not_warn_of_retracing(caplog):
    from tf_compact.internal import batch_norm as internal_bn

    def net():
        inputs = keras.Input((4,))
        hidden = keras.layers.BatchNormalization()(
            keras.layers.Dense(3)(inputs)
        )
        return keras.Model(inputs, hidden)

    with caplog.at_level("WARNING"):
        for rows in range(2, 14):
            model = net()
            norms = internal_bn.batch_norm_layers(model)
            with internal_bn.BatchStatistics(model, norms) as run:
                _, stats = run(np.ones((rows, 4), "float32"))
            assert len(stats) == 1
    assert "retracing" not in caplog.text
