"""Bad inputs: each raises a typed error whose message names the culprit."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers as L

import tf_compact as tfc
from tf_compact.pruning import group_importance
from tf_compact.pruning import prune


class Unknown(L.Layer):
    def call(self, x):
        return x + 1.0


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = L.Dense(3)

    def call(self, x):
        return self.dense(x)


def small_model():
    x = keras.Input((6, 6, 3))
    y = L.Conv2D(8, 3, name="conv_a")(x)
    y = L.BatchNormalization()(y)
    y = L.Conv2D(4, 1, name="conv_b")(y)
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(2, name="head")(y))


def test_unsupported_layer():
    x = keras.Input((4,))
    model = keras.Model(x, Unknown(name="mystery")(L.Dense(3)(x)))
    with pytest.raises(tfc.UnsupportedLayerError, match="'mystery'.*Unknown"):
        tfc.ChannelGraph(model)
    with pytest.raises(tfc.UnsupportedLayerError, match="register_handler"):
        tfc.ChannelGraph(model)


def test_lambda_layer():
    x = keras.Input((4,))
    y = L.Lambda(lambda t: t * 2, name="lam")(L.Dense(3)(x))
    with pytest.raises(tfc.UnsupportedLayerError, match="'lam'.*Lambda"):
        tfc.ChannelGraph(keras.Model(x, y))


def test_subclassed_model():
    model = Subclassed()
    model(np.zeros((1, 4)))
    with pytest.raises(tfc.GraphError, match="subclassed.*Functional"):
        tfc.ChannelGraph(model)


def test_shared_layer_used_twice():
    x = keras.Input((4,))
    shared = L.Dense(4, name="twice")
    with pytest.raises(tfc.GraphError, match="'twice'.*more than once"):
        tfc.ChannelGraph(keras.Model(x, shared(shared(x))))


def test_nested_model_used_twice():
    inner = keras.Sequential([keras.Input((4,)), L.Dense(4, name="in_d")])
    x = keras.Input((4,))
    with pytest.raises(tfc.GraphError, match="'in_d'"):
        tfc.ChannelGraph(keras.Model(x, inner(inner(x))))


def test_unbuilt_sequential():
    with pytest.raises(tfc.GraphError, match="no known input shape"):
        tfc.ChannelGraph(keras.Sequential([L.Dense(3)], name="lazy"))


def test_unknown_channel_count():
    x = keras.Input((None,))
    with pytest.raises(tfc.GraphError, match="channel count.*unknown"):
        tfc.ChannelGraph(keras.Model(x, L.ReLU()(x)))


def test_not_a_model():
    with pytest.raises(TypeError, match="Expected a keras.Model"):
        tfc.ChannelGraph(L.Dense(3))


def test_graph_of_another_model():
    graph = tfc.ChannelGraph(small_model())
    with pytest.raises(ValueError, match="built for model"):
        tfc.slim(small_model(), {}, graph=graph)


BAD_MASKS = [
    ({"conv_a": np.ones(7, bool)}, "'conv_a'.*shape \\(8,\\)"),
    ({"nope": np.ones(8, bool)}, "Unknown channel group 'nope'"),
    ({"conv_a": np.zeros(8, bool)}, "'conv_a' removes all 8"),
    ({"conv_a": np.full(8, 0.5)}, "'conv_a' must be boolean"),
]


def test_bad_masks():
    model = small_model()
    graph = tfc.ChannelGraph(model)
    for masks, pattern in BAD_MASKS:
        for fn in (tfc.slim, tfc.apply_masks, tfc.estimate_slim_cost):
            with pytest.raises(tfc.MaskError, match=pattern):
                fn(model, masks, graph=graph)


def test_masks_not_a_dict():
    with pytest.raises(TypeError, match="Expected a dict"):
        tfc.apply_masks(small_model(), [np.ones(8, bool)])


BAD_PRUNE_ARGUMENTS = [
    ({"ratio": 1.5}, "`ratio`.*\\[0, 1\\).*ratio=1.5"),
    ({"ratio": -0.1}, "`ratio`.*ratio=-0.1"),
    ({"target_macs": 0.0}, "`target_macs`.*target_macs=0.0"),
    ({"target_params": 2}, "`target_params`.*target_params=2"),
    ({"threshold": -1.0}, "`threshold`.*threshold=-1.0"),
    ({}, "exactly one of"),
    ({"ratio": 0.2, "threshold": 0.1}, "exactly one of"),
    ({"ratio": 0.2, "importance": "l3"}, "`importance`.*'l3'"),
    ({"ratio": 0.2, "scope": "galaxy"}, "`scope`.*'galaxy'"),
    ({"ratio": 0.2, "min_channels": 0}, "`min_channels`.*=0"),
    ({"ratio": 0.2, "round_to": 0}, "`round_to`.*=0"),
    ({"ratio": 0.2, "ignored_layers": ["ghost"]}, "'ghost'"),
    ({"target_macs": 1e-4}, "cannot be pruned to 0.0%.*target_macs"),
    ({"ratio": 0.2, "importance": "taylor"}, "needs `data`"),
    ({"widths": {}}, "`widths`.*non-empty dict"),
    ({"widths": [4]}, "`widths`.*non-empty dict"),
    ({"widths": {"ghost": 4}}, "no channel group or producer.*'ghost'"),
    ({"widths": {"conv_a": 0}}, "'conv_a' needs an int in \\[1, 8\\]"),
    ({"widths": {"conv_a": 9}}, "'conv_a' needs an int in \\[1, 8\\]"),
    ({"widths": {"conv_a": 4.0}}, "'conv_a' needs an int"),
    ({"widths": {"conv_a": True}}, "'conv_a' needs an int"),
    ({"widths": {"conv_a": 4}, "ratio": 0.2}, "exactly one of"),
    (
        {"widths": {"conv_a": 4}, "ignored_layers": ["conv_a"]},
        "'conv_a' is not prunable",
    ),
]


def test_bad_prune_arguments():
    model = small_model()
    graph = tfc.ChannelGraph(model)
    for kwargs, pattern in BAD_PRUNE_ARGUMENTS:
        with pytest.raises(ValueError, match=pattern):
            prune(model, graph=graph, **kwargs)


def test_taylor_needs_a_loss():
    x = np.zeros((2, 6, 6, 3), "float32")
    with pytest.raises(ValueError, match="needs a loss"):
        group_importance(small_model(), criterion="taylor", data=(x, x))


def test_taylor_without_labels_says_so():
    model = small_model()
    model.compile(loss="mse")
    x = np.zeros((2, 6, 6, 3), "float32")
    with pytest.raises(ValueError, match="`data`.*needs labels.*\\(2, 6, 6"):
        group_importance(model, criterion="taylor", data=x)
    with pytest.raises(ValueError, match="`data`.*needs labels"):
        group_importance(model, criterion="taylor", data=[x])


@pytest.mark.parametrize(
    "loss",
    [
        None,  # the compiled loss
        keras.losses.SparseCategoricalCrossentropy(),
        keras.losses.sparse_categorical_crossentropy,
    ],
)
def test_taylor_weighs_samples_as_fit_does(loss):
    model = small_model()
    model.compile(loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6, 6, 3)).astype("float32")
    y = rng.integers(0, 2, size=8)

    def scores(data):
        return group_importance(
            model, criterion="taylor", data=data, loss=loss, normalize=None
        )

    # Weights 2 on the first three samples and 0 on the rest: the
    # gradient is 2 * 3/8 of the first three samples' mean gradient.
    first = scores((x[:3], y[:3]))
    weight = np.array([2, 2, 2, 0, 0, 0, 0, 0], "float32")
    batches = tf.data.Dataset.from_tensor_slices((x, y, weight)).batch(8)
    for data in ((x, y, weight), (x, y, weight[:, None]), batches):
        got = scores(data)
        for name, value in first.items():
            np.testing.assert_allclose(got[name], 0.75 * value, rtol=1e-4)


def test_bad_normalizer():
    with pytest.raises(ValueError, match="`normalize`.*'median'"):
        group_importance(small_model(), normalize="median")


def test_an_unreachable_count_is_said_as_a_count():
    model = small_model()
    macs = tfc.profile(model).macs
    count = f"pruned to 2 of its {macs:,} MACs;.* reachable is [\\d.]+% \\("
    with pytest.raises(ValueError, match=count):
        prune(model, target_macs=2)
    with pytest.raises(ValueError, match="pruned to 0.1% of its MACs"):
        prune(model, target_macs=0.001)


def test_an_unreachable_target_names_the_layers_that_keep_channels():
    inputs = keras.Input((8, 8, 8))
    x = L.Conv2D(8, 3, groups=4, name="grouped_a")(inputs)
    x = L.Conv2D(8, 3, groups=4, name="grouped_b")(x)
    model = keras.Model(inputs, L.Dense(3)(L.GlobalAveragePooling2D()(x)))
    graph = tfc.ChannelGraph(model)
    assert graph.fixed_layers == ("grouped_a", "grouped_b")
    assert "kept whole by: grouped_a, grouped_b" in graph.summary()
    with pytest.raises(ValueError, match="whole: grouped_a, grouped_b") as e:
        prune(model, target_macs=0.5)
    assert e.value.kept_whole_by == ("grouped_a", "grouped_b")


def test_a_macs_target_for_inputs_of_any_size_is_refused():
    x = keras.Input((None, None, 3))
    y = L.GlobalAveragePooling2D()(L.Conv2D(8, 3, name="conv")(x))
    model = keras.Model(x, L.Dense(3)(y))
    with pytest.raises(ValueError, match=r"`target_macs`.*any size.*\(None"):
        prune(model, target_macs=0.5)
    # A parameter count does not depend on the input size.
    assert prune(model, target_params=0.5).count_params() < model.count_params()
