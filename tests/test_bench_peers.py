"""The Keras ↔ PyTorch port of `benchmarks/bench_peers.py`.

The layout maths (`peers_convert`) is checked with NumPy and TensorFlow
alone; the PyTorch port itself (`peers_port`) only where torch is
installed (the `peers` extra), and skipped, saying so, elsewhere.
"""

import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc

BENCH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks")
sys.path.insert(0, BENCH)

import peers_convert  # noqa: E402


def _tiny_vgg():
    keras.utils.set_random_seed(1)
    return tfc.models.vgg(blocks=((8,), (16,)), dense_units=24)


def _tiny_resnet():
    keras.utils.set_random_seed(2)
    return tfc.models.resnet(depth=8, input_shape=(28, 28, 1))


def _random_bn_statistics(model, seed=0):
    """Non-trivial BN statistics, as a trained model has."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.gamma.shape
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, shape),
                    rng.normal(0, 0.2, shape),
                    rng.normal(0, 0.2, shape),
                    rng.uniform(0.5, 1.5, shape),
                ]
            )
    return model


def _images(n=16, seed=0):
    return np.random.default_rng(seed).random((n, 28, 28, 1), "float32")


def test_conv_kernel_goes_hwio_to_oihw_and_back():
    kernel = np.arange(3 * 2 * 4 * 5, dtype="float32").reshape(3, 2, 4, 5)
    weight = peers_convert.conv_to_torch(kernel)
    assert weight.shape == (5, 4, 3, 2)
    assert weight[4, 3, 2, 1] == kernel[2, 1, 3, 4]
    np.testing.assert_array_equal(peers_convert.conv_to_keras(weight), kernel)


def test_dense_after_flatten_rows_follow_nchw_order():
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 4, 5), "float32")  # NHWC
    kernel = rng.random((3 * 4 * 5, 7), "float32")
    weight = peers_convert.flat_dense_to_torch(kernel, 3, 4, 5)
    keras_out = x.reshape(2, -1) @ kernel
    torch_out = x.transpose(0, 3, 1, 2).reshape(2, -1) @ weight.T
    np.testing.assert_allclose(torch_out, keras_out, rtol=1e-6)
    back = peers_convert.flat_dense_to_keras(weight, 3, 4, 5)
    np.testing.assert_array_equal(back, kernel)


@pytest.mark.parametrize(
    "size,kernel,stride,pads",
    [
        (28, 3, 1, (1, 1)),
        (28, 3, 2, (0, 1)),
        (7, 3, 2, (1, 1)),
        (28, 1, 2, (0, 0)),
    ],
)
def test_same_pads_are_tensorflows(size, kernel, stride, pads):
    assert peers_convert.same_pads(size, kernel, stride) == pads
    rng = np.random.default_rng(0)
    x = rng.random((1, size, size, 2), "float32")
    w = rng.random((kernel, kernel, 2, 3), "float32")
    same = tf.nn.conv2d(x, w, stride, "SAME")
    padded = tf.pad(x, [[0, 0], list(pads), list(pads), [0, 0]])
    explicit = tf.nn.conv2d(padded, w, stride, "VALID")
    np.testing.assert_allclose(explicit, same, rtol=1e-5, atol=1e-5)


def test_plan_reads_the_vgg_graph():
    _, steps, output = peers_convert.plan(_tiny_vgg())
    kinds = [s.kind for s in steps]
    assert kinds == [
        "conv", "bn", "relu", "maxpool", "conv", "bn", "relu", "maxpool",
        "flatten", "dense", "relu", "dense",
    ]  # fmt: skip
    fc1 = steps[kinds.index("dense")]
    assert fc1.settings["flat_from"] == (7, 7, 16)
    assert output == "logits"


def test_plan_pads_resnet_downsampling_like_tensorflow():
    _, steps, _ = peers_convert.plan(_tiny_resnet())
    by_name = {s.name: s for s in steps}
    assert by_name["stage2_block0_conv1"].settings["pads"] == (0, 1, 0, 1)
    assert by_name["stage2_block0_shortcut_conv"].settings["pads"] == (
        0,
        0,
        0,
        0,
    )
    assert by_name["stage1_block0_add"].inputs == [
        "stage1_block0_bn2",
        "stem_relu",
    ]


def test_plan_names_an_unsupported_layer():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, name="dw")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(ValueError, match="Layer 'dw' \\(DepthwiseConv2D\\)"):
        peers_convert.plan(model)


def test_weights_round_trip_through_the_torch_layout():
    model = _random_bn_statistics(_tiny_vgg())
    state = peers_convert.torch_weights(model)
    assert state["block1_conv1"]["weight"].shape == (8, 1, 3, 3)
    assert state["fc1"]["weight"].shape == (24, 7 * 7 * 16)
    back = peers_convert.keras_weights(model, state)
    assert back is not model
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_keras_weights_follow_narrower_widths():
    model = _random_bn_statistics(_tiny_vgg())
    state = peers_convert.torch_weights(model)
    keep = [0, 2, 5]
    state["block2_conv1"]["weight"] = state["block2_conv1"]["weight"][keep]
    for key in state["block2_bn1"]:
        state["block2_bn1"][key] = state["block2_bn1"][key][keep]
    rows = state["fc1"]["weight"].reshape(24, 16, 49)[:, keep]
    state["fc1"]["weight"] = rows.reshape(24, -1)
    slim = peers_convert.keras_weights(model, state)
    assert slim.get_layer("block2_conv1").filters == 3
    assert slim.get_layer("fc1").kernel.shape == (7 * 7 * 3, 24)
    # Zeroing the dropped channels in the original gives the same logits.
    masked = keras.models.clone_model(model)
    masked.set_weights(model.get_weights())
    gamma, beta, mean, var = masked.get_layer("block2_bn1").get_weights()
    drop = np.setdiff1d(np.arange(16), keep)
    gamma[drop], beta[drop] = 0.0, -1.0  # ReLU then outputs exactly 0
    masked.get_layer("block2_bn1").set_weights([gamma, beta, mean, var])
    x = _images()
    np.testing.assert_allclose(
        slim(x, training=False), masked(x, training=False), atol=1e-5
    )


@pytest.mark.parametrize("build", [_tiny_vgg, _tiny_resnet])
def test_torch_port_matches_keras_logits(build):
    pytest.importorskip("torch", reason="needs the `peers` extra (torch)")
    import peers_port

    model = _random_bn_statistics(build())
    x = _images(32)
    net = peers_port.to_torch(model)
    expected = model.predict(x, verbose=0)
    got = peers_port.logits(net, x)
    assert np.abs(got - expected).max() <= 1e-4
    back = peers_port.to_keras(net, model)
    np.testing.assert_array_equal(
        back.predict(x, verbose=0), model.predict(x, verbose=0)
    )


def test_torch_port_moves_bn_like_keras_in_training():
    torch = pytest.importorskip("torch", reason="needs the `peers` extra")
    import peers_port

    model = _random_bn_statistics(_tiny_vgg())
    net = peers_port.to_torch(model).train()
    x = _images(8)
    with torch.no_grad():
        net(peers_port.nchw(x))
    model(x, training=True)
    bn = model.get_layer("block1_bn1")
    np.testing.assert_allclose(
        net.core("block1_bn1").running_mean.numpy(),
        np.asarray(bn.moving_mean),
        atol=1e-5,
    )


@pytest.mark.parametrize("build", [_tiny_vgg, _tiny_resnet])
def test_torch_pruning_student_rebuilds_in_keras(build):
    torch = pytest.importorskip("torch", reason="needs the `peers` extra")
    tp = pytest.importorskip("torch_pruning", reason="needs the `peers` extra")
    import peers_port

    model = _random_bn_statistics(build())
    net = peers_port.to_torch(model)
    tp.pruner.MetaPruner(
        net,
        torch.zeros(1, 1, 28, 28),
        importance=tp.importance.GroupMagnitudeImportance(p=2),
        global_pruning=True,
        pruning_ratio=0.5,
        ignored_layers=[net.classifier()],
        round_to=4,
    ).step()
    student = peers_port.to_keras(net, model)
    # Keras counts the BN moving statistics, PyTorch keeps them as buffers.
    stats = [b for n, b in net.named_buffers() if n.endswith(("_mean", "_var"))]
    torch_count = sum(t.numel() for t in [*net.parameters(), *stats])
    assert student.count_params() == torch_count
    assert student.count_params() < model.count_params()
    x = _images(16)
    got = student.predict(x, verbose=0)
    assert np.abs(got - peers_port.logits(net, x)).max() <= 1e-4
