"""Published keras-io classifiers and MobileNetV2 through the whole library.

Every model of `tests/zoo/models.py` goes through the user's path: profile
(MACs checked against a count written out below from the architecture),
channel graph, pruning to half the MACs (the slim model must compute what
the masked model computes; the CCT prunes attention heads and head sizes),
TFLite float32 and int8, and `tfc.compress`
(its reported accuracy must be what `model.evaluate` gives for the model
it returns and saves). The input model must never change.

The models are trained for an epoch or a few on a small offline subset,
with the loss, labels (one-hot where the example uses them) and metric of
their example, so that weights and BN statistics are not the initial ones.
"""

import dataclasses
import os
from collections.abc import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.zoo import models as zoo_models

zoo_models.register_cct_handlers()

N_EXAMPLES = 256
BATCH = 64

# ---------------------------------------------------------------------------
# MACs written out per layer type (batch 1). Conventions: a convolution
# costs (output positions) x (kernel taps) x (input channels per group) x
# (output channels); a Dense costs (positions) x (inputs) x (units); a
# matrix product A[m, k] @ B[k, n] costs m * k * n. Biases, norms,
# activations, pooling and merges are not multiply-accumulates.


def conv2d_macs(h_out, w_out, k, cin, cout):
    return h_out * w_out * k * k * cin * cout


def depthwise_macs(h_out, w_out, k, channels):
    return h_out * w_out * k * k * channels


def separable_macs(h_out, w_out, k, cin, cout):
    return depthwise_macs(h_out, w_out, k, cin) + h_out * w_out * cin * cout


def conv1d_macs(l_out, k, cin, cout):
    return l_out * k * cin * cout


def dense_macs(n_in, n_out, positions=1):
    return positions * n_in * n_out


def attention_macs(tokens, dim, heads, key_dim):
    """Self-attention: Q, K, V and output projections, QKᵀ and AV."""
    projections = 3 * dense_macs(dim, heads * key_dim, tokens)
    output = dense_macs(heads * key_dim, dim, tokens)
    scores = heads * tokens * key_dim * tokens
    context = heads * tokens * tokens * key_dim
    return projections + output + scores + context


def mnist_convnet_macs():
    macs = conv2d_macs(26, 26, 3, 1, 32)  # 28 → 26 (valid), pool → 13
    macs += conv2d_macs(11, 11, 3, 32, 64)  # 13 → 11, pool → 5
    macs += dense_macs(5 * 5 * 64, 10)
    return macs


def xception_like_macs(size=32, channels=3, classes=10):
    entry, blocks, exit_width = zoo_models.XCEPTION_WIDTHS
    h = size // 2  # stride-2 "same" entry conv
    macs = conv2d_macs(h, h, 3, channels, entry)
    cin = entry
    for width in blocks:
        macs += separable_macs(h, h, 3, cin, width)
        macs += separable_macs(h, h, 3, width, width)
        h_next = (h + 1) // 2  # max pool 3, stride 2, "same"
        macs += conv2d_macs(h_next, h_next, 1, cin, width)  # residual
        cin, h = width, h_next
    macs += separable_macs(h, h, 3, cin, exit_width)
    macs += dense_macs(exit_width, classes)
    return macs


def timeseries_fcn_macs(length=128, classes=2):
    macs = conv1d_macs(length, 3, 1, 64)
    macs += 2 * conv1d_macs(length, 3, 64, 64)
    macs += dense_macs(64, classes)
    return macs


def speaker_resnet_macs(length=256, classes=4):
    macs, cin = 0, 1
    for filters, convs in zoo_models.SPEAKER_BLOCKS:
        macs += conv1d_macs(length, 1, cin, filters)  # 1x1 shortcut
        macs += conv1d_macs(length, 3, cin, filters)
        macs += (convs - 1) * conv1d_macs(length, 3, filters, filters)
        cin, length = filters, length // 2  # max pool 2
    length = (length - 3) // 3 + 1  # average pool 3, stride 3
    macs += dense_macs(length * cin, 256)
    macs += dense_macs(256, 128)
    macs += dense_macs(128, classes)
    return macs


def cct_macs(size=28, channels=1, classes=10):
    c = zoo_models.CCT_CONFIG
    macs, h, cin = 0, size, channels
    for width in c["conv_channels"]:
        h -= 2  # 3x3 valid conv
        macs += conv2d_macs(h, h, 3, cin, width)
        h = (h + 2 + 1) // 2  # zero pad 1, max pool 3 stride 2 "same"
        cin = width
    tokens, dim = h * h, c["projection_dim"]
    for _ in range(c["transformer_layers"]):
        macs += attention_macs(tokens, dim, c["num_heads"], dim)
        macs += 2 * dense_macs(dim, dim, tokens)  # MLP
    macs += dense_macs(dim, 1, tokens)  # sequence-pooling scores
    macs += tokens * dim  # weights[1, T] @ tokens[T, dim]
    macs += dense_macs(dim, classes)
    return macs


#: MobileNetV2 α 0.35 on 32x32: (expansion, in, out, stride) per block.
MOBILENET_V2_BLOCKS = (
    [(1, 16, 8, 1)]
    + [(6, 8, 8, 2), (6, 8, 8, 1)]
    + [(6, 8, 16, 2)] + [(6, 16, 16, 1)] * 2
    + [(6, 16, 24, 2)] + [(6, 24, 24, 1)] * 3
    + [(6, 24, 32, 1)] + [(6, 32, 32, 1)] * 2
    + [(6, 32, 56, 2)] + [(6, 56, 56, 1)] * 2
    + [(6, 56, 112, 1)]
)  # fmt: skip


def mobilenet_v2_macs(size=32, classes=10):
    h = size // 2  # stride-2 stem after zero padding
    macs = conv2d_macs(h, h, 3, 3, 16)
    for expansion, cin, cout, stride in MOBILENET_V2_BLOCKS:
        mid = cin * expansion
        if expansion != 1:
            macs += conv2d_macs(h, h, 1, cin, mid)  # expand
        h = h // stride
        macs += depthwise_macs(h, h, 3, mid)
        macs += conv2d_macs(h, h, 1, mid, cout)  # project
    macs += conv2d_macs(h, h, 1, 112, 1280)
    macs += dense_macs(1280, classes)
    return macs


# ---------------------------------------------------------------------------
# Data: a small Fashion-MNIST subset and learnable synthetic sequences.


def _fashion(size=28, channels=1, pixels=1.0):
    bundle = tfc.data.fashion_mnist(limit=N_EXAMPLES, source="debian")
    x_train, y_train, x_test, y_test = bundle.arrays()

    def fit(x):
        if size != x.shape[1]:
            x = tf.image.resize(x, (size, size)).numpy()
        if channels != x.shape[-1]:
            x = np.tile(x, (1, 1, 1, channels))
        return (x * pixels).astype("float32")

    return fit(x_train), y_train, fit(x_test), y_test


def _two_classes(arrays):
    x_train, y_train, x_test, y_test = arrays
    return x_train, (y_train >= 5).astype("int32"), x_test, (
        y_test >= 5
    ).astype("int32")


def _waves(length, classes, n, seed):
    """Noisy sines whose frequency is the class: learnable by a Conv1D."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n).astype("int32")
    t = np.arange(length) / length
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    freq = (2.0 + 3.0 * y)[:, None]
    x = np.sin(2 * np.pi * freq * t[None] + phase)
    x += 0.3 * rng.standard_normal(x.shape)
    return x[..., None].astype("float32"), y


def _sequences(length, classes):
    x_train, y_train = _waves(length, classes, N_EXAMPLES, 0)
    x_test, y_test = _waves(length, classes, N_EXAMPLES, 1)
    return x_train, y_train, x_test, y_test


# ---------------------------------------------------------------------------
# The cases.


@dataclasses.dataclass
class Case:
    build: Callable
    data: Callable
    num_classes: int
    one_hot: bool
    loss: Callable
    metric: Callable
    macs: Callable
    optimizer: Callable = lambda: keras.optimizers.Adam(1e-3)
    epochs: int = 1
    target: float = 0.5
    int8_refused: str = ""


def _sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy()


CASES = {
    "mnist_convnet": Case(
        build=zoo_models.mnist_convnet,
        data=_fashion,
        num_classes=10,
        one_hot=True,
        loss=lambda: keras.losses.CategoricalCrossentropy(),
        metric=lambda: keras.metrics.CategoricalAccuracy(name="acc"),
        macs=mnist_convnet_macs,
    ),
    "xception_like": Case(
        build=lambda: zoo_models.xception_like((32, 32, 3), 10),
        data=lambda: _fashion(32, 3, pixels=255.0),
        num_classes=10,
        one_hot=False,
        loss=_sparse_ce,
        metric=lambda: keras.metrics.SparseCategoricalAccuracy(name="acc"),
        macs=xception_like_macs,
        optimizer=lambda: keras.optimizers.Adam(3e-4),
    ),
    "xception_like_augmented": Case(
        build=lambda: zoo_models.xception_like(
            (32, 32, 3), 10, augmentation=True
        ),
        data=lambda: _fashion(32, 3, pixels=255.0),
        num_classes=10,
        one_hot=False,
        loss=_sparse_ce,
        metric=lambda: keras.metrics.SparseCategoricalAccuracy(name="acc"),
        macs=xception_like_macs,
        optimizer=lambda: keras.optimizers.Adam(3e-4),
    ),
    # The example as published: two classes, one sigmoid unit, augmentation
    # inside the model. Here: Fashion-MNIST classes 0-4 against 5-9.
    "xception_like_binary": Case(
        build=lambda: zoo_models.xception_like(
            (32, 32, 3), 2, augmentation=True
        ),
        data=lambda: _two_classes(_fashion(32, 3, pixels=255.0)),
        num_classes=2,
        one_hot=False,
        loss=lambda: keras.losses.BinaryCrossentropy(),
        metric=lambda: keras.metrics.BinaryAccuracy(name="acc"),
        macs=lambda: xception_like_macs(classes=1),
        optimizer=lambda: keras.optimizers.Adam(3e-4),
    ),
    "timeseries_fcn": Case(
        build=lambda: zoo_models.timeseries_fcn((128, 1), 2),
        data=lambda: _sequences(128, 2),
        num_classes=2,
        one_hot=False,
        loss=_sparse_ce,
        metric=lambda: keras.metrics.SparseCategoricalAccuracy(name="acc"),
        macs=timeseries_fcn_macs,
        epochs=5,
    ),
    "speaker_resnet": Case(
        build=lambda: zoo_models.speaker_resnet((256, 1), 4),
        data=lambda: _sequences(256, 4),
        num_classes=4,
        one_hot=False,
        loss=_sparse_ce,
        metric=lambda: keras.metrics.SparseCategoricalAccuracy(name="acc"),
        macs=speaker_resnet_macs,
        epochs=5,
    ),
    # Heads, key and value sizes of the attention layers prune; the
    # residual stream stays whole (layer norms normalize across it).
    "cct": Case(
        build=lambda: zoo_models.cct((28, 28, 1), 10),
        data=lambda: _fashion(28, 1, pixels=255.0),
        num_classes=10,
        one_hot=True,
        loss=lambda: keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=0.1
        ),
        metric=lambda: keras.metrics.CategoricalAccuracy(name="acc"),
        macs=cct_macs,
        optimizer=lambda: keras.optimizers.AdamW(1e-3, weight_decay=1e-4),
    ),
    "mobilenet_v2": Case(
        build=lambda: zoo_models.mobilenet_v2((32, 32, 3), 10),
        data=lambda: _fashion(32, 3),
        num_classes=10,
        one_hot=False,
        loss=_sparse_ce,
        metric=lambda: keras.metrics.SparseCategoricalAccuracy(name="acc"),
        macs=mobilenet_v2_macs,
    ),
}

#: Cases fast enough for the default run; the others are marked slow.
QUICK = ("mnist_convnet",)


def _params(names=tuple(CASES)):
    return [
        pytest.param(n, id=n)
        if n in QUICK
        else pytest.param(n, id=n, marks=pytest.mark.slow)
        for n in names
    ]


class Prepared:
    """One case's trained model, its snapshot and its data."""

    def __init__(self, name):
        case = CASES[name]
        self.case = case
        keras.utils.set_random_seed(0)
        x_train, y_train, x_test, y_test = case.data()
        self.x_train, self.x_test = x_train, x_test
        self.y_train, self.y_test = y_train, y_test
        self.train = self._dataset(x_train, y_train, shuffle=True)
        self.test = self._dataset(x_test, y_test, shuffle=False)
        model = case.build()
        model.compile(
            optimizer=case.optimizer(),
            loss=case.loss(),
            metrics=[case.metric()],
        )
        model.fit(self.train, epochs=case.epochs, verbose=0)
        self.model = model
        self.snapshot = snapshot(model)
        self._slim = None

    def _dataset(self, x, y, shuffle):
        if self.case.one_hot:
            y = keras.utils.to_categorical(y, self.case.num_classes)
            y = y.astype("float32")
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(len(x), seed=0)
        return ds.batch(BATCH)

    def slim(self):
        if self._slim is None:
            self._slim = tfc.prune(self.model, target_macs=self.case.target)
        return self._slim


@pytest.fixture(scope="module")
def zoo():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = Prepared(name)
        return cache[name]

    return get


def snapshot(model):
    """Copies of every variable (BN moving statistics included)."""
    return [(v.path, np.array(v.numpy())) for v in model.weights]


def assert_unchanged(model, snap):
    now = snapshot(model)
    assert [p for p, _ in now] == [p for p, _ in snap]
    for (path, before), (_, after) in zip(snap, now):
        np.testing.assert_array_equal(after, before, err_msg=path)


# ---------------------------------------------------------------------------
# The tests.


@pytest.mark.parametrize("name", _params())
def test_profile_macs_match_hand_count(zoo, name):
    case = zoo(name)
    report = tfc.profile(case.model)
    assert report.macs == case.case.macs()
    assert_unchanged(case.model, case.snapshot)


@pytest.mark.parametrize("name", _params())
def test_prune_to_target_slim_equals_masks(zoo, name):
    case = zoo(name)
    target = case.case.target
    model = case.model
    graph = tfc.ChannelGraph(model)
    assert graph.groups
    masks = tfc.pruning.prune_masks(
        model, target_macs=target, graph=graph
    )
    assert any(not m.all() for m in masks.values())
    small = tfc.slim(model, masks, graph=graph)
    reference = tfc.apply_masks(model, masks, graph=graph)
    x = case.x_test[:32]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(small(x, training=False)),
        keras.ops.convert_to_numpy(reference(x, training=False)),
        atol=1e-5,
    )
    pruned = case.slim()
    base = tfc.profile(model).macs
    assert tfc.profile(pruned).macs <= target * base
    assert tfc.profile(pruned).macs == tfc.profile(small).macs
    assert_unchanged(model, case.snapshot)


@pytest.mark.parametrize("name", _params())
@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_lite_convert_pruned(zoo, name, mode):
    case = zoo(name)
    pruned = case.slim()
    if mode == "int8" and case.case.int8_refused:
        with pytest.raises(
            tfc.lite.QuantizationError, match=case.case.int8_refused
        ):
            tfc.lite.convert(
                pruned,
                mode=mode,
                representative_data=case.x_train[:64],
                num_calibration_steps=64,
            )
        assert_unchanged(case.model, case.snapshot)
        return
    result = tfc.lite.convert(
        pruned,
        mode=mode,
        representative_data=case.x_train[:64],
        num_calibration_steps=64,
    )
    assert len(result) > 0
    x = case.x_test[:32]
    keras_out = keras.ops.convert_to_numpy(pruned(x, training=False))
    lite_out = tfc.lite.predict(result, x)
    # int8: a few output quantization steps; catches a broken conversion.
    scale = max(1.0, float(np.ptp(keras_out)))
    atol = 1e-4 if mode == "float32" else 0.05 * scale
    np.testing.assert_allclose(lite_out, keras_out, atol=atol)
    assert_unchanged(case.model, case.snapshot)


@pytest.mark.parametrize("name", _params())
def test_compress_reports_the_accuracy_evaluate_gives(
    zoo, name, tmp_path
):
    case = zoo(name)
    result = tfc.compress(
        case.model,
        case.train,
        case.test,
        test_data=case.test,
        method=tfc.methods.OneShot(target_macs=case.case.target),
        epochs=1,
        training=tfc.methods.Training(finetune_epochs=0),
        export=tfc.methods.Export(
            tflite_modes=("float32",)
            if case.case.int8_refused
            else ("float32", "int8"),
            benchmark_runs=2,
        ),
        output_dir=str(tmp_path),
        verbose=0,
    )
    assert_unchanged(case.model, case.snapshot)
    reported = result.report["student"]["accuracy"]
    saved = keras.models.load_model(
        os.path.join(str(tmp_path), "slim_finetuned.keras")
    )
    for student in (result.slim_model, saved):
        student.compile(loss=case.case.loss(), metrics=[case.case.metric()])
        evaluated = student.evaluate(case.test, verbose=0, return_dict=True)
        assert reported == pytest.approx(evaluated["acc"], abs=0.005)
    macs = tfc.profile(result.slim_model).macs
    assert result.report["student"]["macs"] == macs
    assert macs <= case.case.target * tfc.profile(case.model).macs


def _without_head_activation(model):
    """A copy whose last Dense outputs logits (softmax/sigmoid removed)."""
    last = model.layers[-1]

    def clone(layer):
        config = layer.get_config()
        if layer is last:
            config["activation"] = "linear"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _kd_term(teacher, student, prepared):
    distiller = tfc.Distiller(
        teacher,
        student,
        distillation_losses=[tfc.LogitsKD(temperature=4.0)],
        student_loss_weight=0.0,
    )
    distiller.compile(loss=prepared.case.loss())
    x, y = next(iter(prepared.test))
    logs = distiller.evaluate(x, y, verbose=0, return_dict=True)
    return logs["logits_kd"]


@pytest.mark.parametrize("name", _params())
def test_kd_on_the_published_head_equals_kd_on_logits(
    zoo, name
):
    case = zoo(name)
    teacher, student = case.model, case.slim()
    on_head = _kd_term(teacher, student, case)
    on_logits = _kd_term(
        _without_head_activation(teacher),
        _without_head_activation(student),
        case,
    )
    assert on_logits > 0
    assert on_head == pytest.approx(on_logits, rel=1e-3)
    assert_unchanged(teacher, case.snapshot)
