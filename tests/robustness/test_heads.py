"""Probability heads: detection, logits views, and distillation on logits."""

import types

import keras
import numpy as np
import pytest
from keras import ops

import tf_compact as tfc
from tests.robustness import helpers
from tf_compact.internal import heads
from tf_compact.internal import labels as label_lib
from tf_compact.pipeline import stages
from tf_compact.pipeline import training

CLASSES = 4


def _body(seed, name):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,), name="x")
    h = keras.layers.Dense(8, activation="relu", name=f"{name}_hidden")(inputs)
    return inputs, h


def _logits_head(h, units, kind, name):
    """Returns the output of a head of `kind` on `h`."""
    if kind == "dense":
        return keras.layers.Dense(units, activation="softmax", name="head")(h)
    if kind == "reshape_after":
        p = keras.layers.Dense(units, activation="softmax", name="head")(h)
        return keras.layers.Reshape((units,))(p)
    if kind == "einsum":
        return keras.layers.EinsumDense(
            "ab,bc->ac",
            output_shape=units,
            bias_axes="c",
            activation="softmax",
            name="head",
        )(h)
    if kind == "dense_sigmoid":
        return keras.layers.Dense(units, activation="sigmoid", name="head")(h)
    z = keras.layers.Dense(units, name="head")(h)
    if kind == "activation":
        return keras.layers.Activation("softmax", dtype="float32")(z)
    if kind == "softmax_layer":
        return keras.layers.Softmax()(z)
    if kind == "ops":
        return ops.softmax(z)
    if kind == "ops_sigmoid":
        return ops.sigmoid(z)
    if kind == "identity_after":
        return keras.layers.Identity()(keras.layers.Activation("softmax")(z))
    if kind == "plain":
        return z
    raise ValueError(kind)


def _net(kind, seed, name, units=CLASSES):
    """A tiny classifier ending in the head `kind`."""
    if kind == "nested":
        inputs, h = _body(seed, name)
        head = keras.Sequential(
            [
                keras.Input((8,)),
                keras.layers.Dense(units, activation="softmax", name="head"),
            ],
            name=f"{name}_head_model",
        )
        return keras.Model(inputs, head(h), name=name)
    if kind == "sequential":
        keras.utils.set_random_seed(seed)
        return keras.Sequential(
            [
                keras.Input((6,)),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(units, activation="softmax", name="head"),
            ],
            name=name,
        )
    inputs, h = _body(seed, name)
    return keras.Model(inputs, _logits_head(h, units, kind, name), name=name)


def _plain_twin(model, seed, name, units=CLASSES):
    twin = _net("plain", seed, name, units)
    twin.set_weights(model.get_weights())
    return twin


def _data(n=16, seed=0, units=CLASSES):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32") * 3.0
    y = rng.integers(0, max(units, 2), n)
    return x, y


SOFTMAX_KINDS = [
    "dense",
    "activation",
    "softmax_layer",
    "ops",
    "identity_after",
    "reshape_after",
    "nested",
    "sequential",
]


@pytest.mark.parametrize(
    "kind, expected",
    [(k, "softmax") for k in SOFTMAX_KINDS]
    + [("dense_sigmoid", "sigmoid"), ("ops_sigmoid", "sigmoid")]
    + [("plain", "none")],
)
def test_head_kind_and_outputs_logits(kind, expected):
    model = _net(kind, 0, "m")
    assert heads.head_kind(model) == expected
    assert training.outputs_logits(model) is (expected == "none")


@pytest.mark.parametrize(
    "kind", SOFTMAX_KINDS + ["einsum", "dense_sigmoid", "ops_sigmoid"]
)
def test_logits_view_shares_weights_and_inverts_the_head(kind):
    model = _net(kind, 1, "m")
    before = helpers.snapshot(model)
    view = heads.logits_view(model)
    x, _ = _data()
    logits = view(x)
    act = ops.sigmoid if "sigmoid" in kind else ops.softmax
    np.testing.assert_allclose(act(logits), model(x), rtol=1e-5, atol=1e-7)
    model_ids = {id(v) for v in model.weights}
    assert {id(v) for v in view.weights} == model_ids
    helpers.assert_unchanged(model, before)
    # The model's own graph is untouched: its last layer has one output.
    assert model.layers[-1].output is not None
    # Training the view trains the model.
    view.compile("sgd", loss="mse")
    view.train_on_batch(x, np.zeros_like(np.asarray(logits)))
    changed = [
        not np.array_equal(a, b) for a, b in zip(model.get_weights(), before)
    ]
    assert any(changed)


def _distilled_terms(teacher, student, losses, x, y, compile_fn=None):
    distiller = tfc.Distiller(teacher, student, losses)
    if compile_fn is None:
        distiller.compile(optimizer="sgd")
    else:
        compile_fn(distiller, student)
    return distiller.evaluate(
        x, y, batch_size=len(x), return_dict=True, verbose=0
    )


@pytest.mark.parametrize("kind", SOFTMAX_KINDS)
def test_logits_kd_of_softmax_heads_equals_kd_of_their_logits(kind):
    teacher, student = _net(kind, 2, "t"), _net(kind, 3, "s")
    before = helpers.snapshot(teacher), helpers.snapshot(student)
    plain_t = _plain_twin(teacher, 2, "t")
    plain_s = _plain_twin(student, 3, "s")
    x, y = _data()
    soft = _distilled_terms(teacher, student, [tfc.LogitsKD(4.0)], x, y)
    ref = _distilled_terms(plain_t, plain_s, [tfc.LogitsKD(4.0)], x, y)
    assert ref["logits_kd"] > 0.05
    np.testing.assert_allclose(soft["logits_kd"], ref["logits_kd"], rtol=1e-4)
    helpers.assert_unchanged(teacher, before[0])
    helpers.assert_unchanged(student, before[1])


def test_feature_kd_on_the_head_layer_reads_its_logits():
    teacher, student = _net("dense", 2, "t"), _net("dense", 3, "s")
    plain_t = _plain_twin(teacher, 2, "t")
    plain_s = _plain_twin(student, 3, "s")
    x, y = _data()

    def losses():
        return [tfc.LogitsKD(2.0), tfc.FeatureKD(pairs=[("head", "head")])]

    soft = _distilled_terms(teacher, student, losses(), x, y)
    ref = _distilled_terms(plain_t, plain_s, losses(), x, y)
    for key in ("logits_kd", "feature_kd"):
        assert ref[key] > 0.05
        np.testing.assert_allclose(soft[key], ref[key], rtol=1e-4)


def _compress_compile(distiller, student):
    stages._compile(distiller, student, 1e-3)


@pytest.mark.parametrize("kind", ["dense", "ops", "nested"])
def test_compress_kd_stage_loss_equals_that_of_logits(kind):
    ctx = types.SimpleNamespace(
        settings={"temperature": 4.0, "feature_kd": False}
    )
    teacher, student = _net(kind, 4, "t"), _net(kind, 5, "s")
    plain_t = _plain_twin(teacher, 4, "t")
    plain_s = _plain_twin(student, 5, "s")
    x, y = _data()
    soft = _distilled_terms(
        teacher, student, stages.kd_losses(ctx), x, y, _compress_compile
    )
    ref = _distilled_terms(
        plain_t, plain_s, stages.kd_losses(ctx), x, y, _compress_compile
    )
    for key in ("loss", "logits_kd", "student_loss", "accuracy"):
        np.testing.assert_allclose(soft[key], ref[key], rtol=1e-4)


@pytest.mark.parametrize(
    "loss",
    [
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.losses.SparseCategoricalCrossentropy(from_logits=False),
        "sparse_categorical_crossentropy",
    ],
)
def test_distiller_label_loss_follows_the_head(loss):
    teacher, student = _net("dense", 2, "t"), _net("dense", 3, "s")
    plain_t = _plain_twin(teacher, 2, "t")
    plain_s = _plain_twin(student, 3, "s")
    x, y = _data()
    soft = _distilled_terms(
        teacher,
        student,
        [tfc.LogitsKD()],
        x,
        y,
        lambda d, s: d.compile("sgd", loss=loss),
    )
    ref = _distilled_terms(
        plain_t,
        plain_s,
        [tfc.LogitsKD()],
        x,
        y,
        lambda d, s: d.compile(
            "sgd",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ),
    )
    np.testing.assert_allclose(
        soft["student_loss"], ref["student_loss"], rtol=1e-4
    )


@pytest.mark.parametrize("kind", ["dense_sigmoid", "ops_sigmoid"])
def test_binary_sigmoid_heads_get_bernoulli_kd_on_the_logit(kind):
    teacher, student = _net(kind, 6, "t", 1), _net(kind, 7, "s", 1)
    plain_t = _plain_twin(teacher, 6, "t", 1)
    plain_s = _plain_twin(student, 7, "s", 1)
    x, y = _data(units=1)
    temp = 3.0
    soft = _distilled_terms(teacher, student, [tfc.LogitsKD(temp)], x, y)
    ref = _distilled_terms(plain_t, plain_s, [tfc.LogitsKD(temp)], x, y)
    t = np.asarray(plain_t(x), "float64") / temp
    s = np.asarray(plain_s(x), "float64") / temp
    p, q = 1 / (1 + np.exp(-t)), 1 / (1 + np.exp(-s))
    kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    want = temp**2 * np.mean(np.sum(kl, axis=-1))
    assert want > 1e-3
    np.testing.assert_allclose(soft["logits_kd"], want, rtol=1e-4)
    np.testing.assert_allclose(ref["logits_kd"], want, rtol=1e-4)


def test_binary_head_trains_with_binary_cross_entropy():
    teacher, student = _net("dense_sigmoid", 6, "t", 1), _net(
        "dense_sigmoid", 7, "s", 1
    )
    x, y = _data(units=1)
    distiller = tfc.Distiller(teacher, student, [tfc.LogitsKD()])
    distiller.compile(
        "sgd",
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    logs = distiller.evaluate(x, y, return_dict=True, verbose=0)
    z = np.asarray(heads.logits_view(student)(x), "float64")[:, 0]
    want = np.mean(np.log1p(np.exp(-z)) + (1 - y) * z)
    np.testing.assert_allclose(logs["student_loss"], want, rtol=1e-4)


@pytest.mark.parametrize(
    "loss",
    [
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "categorical_crossentropy",
    ],
)
def test_binary_head_refuses_a_categorical_loss_before_training(loss):
    teacher, student = _net("dense_sigmoid", 6, "t", 1), _net(
        "dense_sigmoid", 7, "s", 1
    )
    before = helpers.snapshot(student)
    x, y = _data(units=1)
    distiller = tfc.Distiller(teacher, student, [tfc.LogitsKD()])
    distiller.compile("sgd", loss=loss)
    with pytest.raises(ValueError, match="binary.*BinaryCrossentropy"):
        distiller.fit(x, y, epochs=1, verbose=0)
    helpers.assert_unchanged(student, before)


def test_standardized_kd_refuses_binary_heads():
    teacher, student = _net("dense_sigmoid", 6, "t", 1), _net(
        "dense_sigmoid", 7, "s", 1
    )
    with pytest.raises(ValueError, match="standardize"):
        tfc.Distiller(teacher, student, [tfc.LogitsKD(standardize=True)])


@pytest.mark.parametrize("kind", ["dense", "ops", "dense_sigmoid"])
def test_compile_classifier_follows_the_head(kind):
    model = _net(kind, 8, "m", 1 if "sigmoid" in kind else CLASSES)
    plain = _plain_twin(model, 8, "m", 1 if "sigmoid" in kind else CLASSES)
    x, y = _data(units=1 if "sigmoid" in kind else CLASSES)
    got = training.compile_classifier(model).evaluate(
        x, y, return_dict=True, verbose=0
    )
    want = training.compile_classifier(plain).evaluate(
        x, y, return_dict=True, verbose=0
    )
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-4)
    np.testing.assert_allclose(got["accuracy"], want["accuracy"])


@pytest.mark.parametrize("kind", ["dense", "activation", "dense_sigmoid"])
def test_qat_kd_of_probability_heads_equals_kd_of_their_logits(kind):
    from tf_compact.lite import distill_qat
    from tf_compact.lite.qat import import_tfmot

    import_tfmot()  # the project's import, which leaves the environment

    units = 1 if "sigmoid" in kind else CLASSES
    model, teacher = _net(kind, 9, "m", units), _net(kind, 10, "t", units)
    plain_m = _plain_twin(model, 9, "m", units)
    plain_t = _plain_twin(teacher, 10, "t", units)
    before = helpers.snapshot(model), helpers.snapshot(teacher)
    x, y = _data(units=units)

    def loss(m, t, alpha):
        trainer = distill_qat.QatTrainer(
            tfc.lite.quantize_model(m),
            teacher=t,
            alpha=alpha,
            from_logits=distill_qat.infer_from_logits(m, None),
            head=heads.head_kind(m),
        )
        x_t, y_t = ops.convert_to_tensor(x), ops.array(y)
        return float(trainer._loss(x_t, y_t))

    for alpha in (1.0, 0.0):  # the KD term alone, the label term alone
        want = loss(plain_m, plain_t, alpha)
        assert want > 0.01
        np.testing.assert_allclose(loss(model, teacher, alpha), want, rtol=1e-4)
    helpers.assert_unchanged(model, before[0])
    helpers.assert_unchanged(teacher, before[1])


def _unbuilt(seed, activation):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(CLASSES, activation=activation),
        ]
    )


def test_unbuilt_sequential_softmax_models_are_distilled_on_logits():
    teacher, student = _unbuilt(11, "softmax"), _unbuilt(12, "softmax")
    x, y = _data()
    soft = _distilled_terms(teacher, student, [tfc.LogitsKD(4.0)], x, y)
    plain_t, plain_s = _unbuilt(11, None), _unbuilt(12, None)
    plain_t.build((None, 6))
    plain_s.build((None, 6))
    plain_t.set_weights(teacher.get_weights())
    plain_s.set_weights(student.get_weights())
    ref = _distilled_terms(plain_t, plain_s, [tfc.LogitsKD(4.0)], x, y)
    assert ref["logits_kd"] > 0.05
    np.testing.assert_allclose(soft["logits_kd"], ref["logits_kd"], rtol=1e-4)


def test_keras_logits_distillation_gets_logits_and_refuses_binary_heads():
    teacher, student = _net("dense", 2, "t"), _net("dense", 3, "s")
    plain_t = _plain_twin(teacher, 2, "t")
    plain_s = _plain_twin(student, 3, "s")
    x, y = _data()

    def keras_kd():
        return [keras.distillation.LogitsDistillation(temperature=3.0)]

    soft = _distilled_terms(teacher, student, keras_kd(), x, y)
    ref = _distilled_terms(plain_t, plain_s, keras_kd(), x, y)
    key = "logits_distillation"
    assert ref[key] > 1e-3
    np.testing.assert_allclose(soft[key], ref[key], rtol=1e-4)
    binary_t = _net("dense_sigmoid", 6, "t", 1)
    binary_s = _net("dense_sigmoid", 7, "s", 1)
    with pytest.raises(ValueError, match="LogitsDistillation.*binary"):
        tfc.Distiller(binary_t, binary_s, keras_kd())


@pytest.mark.parametrize("temperature", [np.inf, np.nan, 0.0, -2.0, True])
def test_qat_refuses_bad_temperatures_before_any_work(temperature):
    model = _net("dense", 9, "m")
    before = helpers.snapshot(model)
    x, y = _data()
    with pytest.raises(ValueError, match="`temperature`"):
        tfc.lite.qat(model, (x, y), teacher=model, temperature=temperature)
    helpers.assert_unchanged(model, before)


def test_keras_distiller_refuses_logits_kd_on_probability_heads():
    teacher, student = _net("ops", 2, "t"), _net("dense", 3, "s")
    with pytest.raises(ValueError, match="`teacher`.*softmax.*tfc.Distiller"):
        keras.distillation.Distiller(
            teacher, student, distillation_losses=tfc.LogitsKD()
        )


def test_compile_classifier_survives_save_and_load(tmp_path):
    model = _net("dense", 8, "m")
    training.compile_classifier(model)
    x, y = _data()
    want = model.evaluate(x, y, return_dict=True, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    got = loaded.evaluate(x, y, return_dict=True, verbose=0)
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-6)
    np.testing.assert_allclose(got["accuracy"], want["accuracy"])
    for obj in (label_lib.label_loss(model), label_lib.label_metric(model)):
        config = obj.get_config()
        assert type(obj).from_config(config).get_config() == config
