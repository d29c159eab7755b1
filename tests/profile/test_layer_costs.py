"""Hand-computed MACs and element-wise operations, one layer at a time."""

import keras
import pytest

import tf_compact as tfc

L = keras.layers


def _single(layer, *input_shapes, batch_size=1):
    inputs = [keras.Input(shape) for shape in input_shapes]
    x = layer(inputs if len(inputs) > 1 else inputs[0])
    model = keras.Model(inputs, x)
    prof = tfc.profile(model, batch_size=batch_size)
    assert len(prof.layers) == 1
    return prof.layers[0]


# (layer factory, input shapes, MACs, other ops), each worked out by hand.
CASES = {
    # 8 positions * 4 filters * (3 * 2); bias: 32 adds.
    "conv1d": (lambda: L.Conv1D(4, 3), [(10, 2)], 8 * 4 * 3 * 2, 32),
    # 8*8*8 outputs * 3*3*3; bias 512.
    "conv2d": (
        lambda: L.Conv2D(8, 3, strides=2, padding="same"),
        [(16, 16, 3)],
        8 * 8 * 8 * 9 * 3,
        512,
    ),
    # groups=2: each output sees 4 / 2 input channels.
    "conv2d_groups": (
        lambda: L.Conv2D(4, 3, groups=2, padding="same", use_bias=False),
        [(6, 6, 4)],
        6 * 6 * 4 * 9 * 2,
        0,
    ),
    "conv3d": (
        lambda: L.Conv3D(2, 2, use_bias=False),
        [(4, 4, 4, 3)],
        3 * 3 * 3 * 2 * 8 * 3,
        0,
    ),
    # Every input element is spread over 3*3 positions of 4 filters.
    "conv2d_transpose": (
        lambda: L.Conv2DTranspose(
            4, 3, strides=2, padding="same", use_bias=False
        ),
        [(5, 5, 2)],
        5 * 5 * 2 * 9 * 4,
        0,
    ),
    "depthwise1d": (
        lambda: L.DepthwiseConv1D(3, use_bias=False),
        [(10, 4)],
        8 * 4 * 3,
        0,
    ),
    # 6*6 positions * (3 channels * multiplier 2) * 3*3.
    "depthwise2d": (
        lambda: L.DepthwiseConv2D(
            3, depth_multiplier=2, padding="same", use_bias=False
        ),
        [(6, 6, 3)],
        6 * 6 * 6 * 9,
        0,
    ),
    # depthwise 8*2*3 + pointwise 8*2*4.
    "separable1d": (
        lambda: L.SeparableConv1D(4, 3, use_bias=False),
        [(10, 2)],
        8 * 2 * 3 + 8 * 2 * 4,
        0,
    ),
    "separable2d": (
        lambda: L.SeparableConv2D(5, 3, padding="same", use_bias=False),
        [(6, 6, 3)],
        36 * 3 * 9 + 36 * 3 * 5,
        0,
    ),
    # bias 6 + relu 6.
    "dense": (lambda: L.Dense(6, activation="relu"), [(4,)], 4 * 6, 12),
    # rank 3: 3 rows * 4 inputs * 5 units; bias 15.
    "dense_rank3": (lambda: L.Dense(5), [(3, 4)], 3 * 4 * 5, 15),
    "einsum_dense": (
        lambda: L.EinsumDense("ab,bc->ac", output_shape=6),
        [(4,)],
        4 * 6,
        0,
    ),
    "batch_norm": (L.BatchNormalization, [(4, 4, 3)], 0, 2 * 48),
    "layer_norm": (L.LayerNormalization, [(5, 6)], 0, 4 * 30),
    "max_pool2d": (lambda: L.MaxPooling2D(2), [(4, 4, 3)], 0, 12 * 4),
    "avg_pool1d": (lambda: L.AveragePooling1D(2), [(6, 2)], 0, 6 * 2),
    "global_avg_pool2d": (L.GlobalAveragePooling2D, [(4, 4, 3)], 0, 48),
    "global_max_pool1d": (L.GlobalMaxPooling1D, [(5, 2)], 0, 10),
    "add3": (L.Add, [(4,), (4,), (4,)], 0, 2 * 4),
    "multiply": (L.Multiply, [(4,), (4,)], 0, 4),
    "subtract": (L.Subtract, [(4,), (4,)], 0, 4),
    "average": (L.Average, [(4,), (4,)], 0, 2 * 4),
    "maximum": (L.Maximum, [(4,), (4,)], 0, 4),
    "concatenate": (L.Concatenate, [(4,), (3,)], 0, 0),
    "dot": (lambda: L.Dot(axes=(2, 2)), [(3, 4), (5, 4)], 3 * 5 * 4, 0),
    "activation": (lambda: L.Activation("relu"), [(4, 4, 3)], 0, 48),
    "relu": (L.ReLU, [(7,)], 0, 7),
    "softmax": (L.Softmax, [(7,)], 0, 7),
    "leaky_relu": (L.LeakyReLU, [(7,)], 0, 7),
    "rescaling": (lambda: L.Rescaling(1 / 255.0), [(4, 4, 3)], 0, 96),
    "normalization": (
        lambda: L.Normalization(mean=0.0, variance=1.0),
        [(5,)],
        0,
        10,
    ),
    "flatten": (L.Flatten, [(4, 4, 3)], 0, 0),
    "dropout": (lambda: L.Dropout(0.5), [(4,)], 0, 0),
    "zero_padding": (lambda: L.ZeroPadding2D(1), [(4, 4, 3)], 0, 0),
    "upsampling_nearest": (lambda: L.UpSampling2D(2), [(2, 2, 3)], 0, 0),
    "upsampling_bilinear": (
        lambda: L.UpSampling2D(2, interpolation="bilinear"),
        [(2, 2, 3)],
        0,
        48,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hand_computed_costs(case):
    factory, shapes, macs, other = CASES[case]
    row = _single(factory(), *shapes)
    assert (row.macs, row.other_ops) == (macs, other)


def test_costs_scale_with_batch_size():
    row = _single(L.Conv2D(8, 3, padding="same"), (6, 6, 2), batch_size=3)
    assert row.output_shape == (3, 6, 6, 8)
    assert row.macs == 3 * 6 * 6 * 8 * 9 * 2
    assert row.other_ops == 3 * 6 * 6 * 8


def test_channels_first_convolution_reads_channels_from_axis_1():
    layer = L.Conv2D(4, 3, data_format="channels_first", use_bias=False)
    row = _single(layer, (2, 6, 6))
    assert row.output_shape == (1, 4, 4, 4)
    assert row.macs == 4 * 4 * 4 * 9 * 2


def test_activation_bytes_follow_dtype():
    row32 = _single(L.Dense(8), (4,))
    row16 = _single(L.Dense(8, dtype="mixed_float16"), (4,))
    assert row32.activation_bytes == 8 * 4
    assert row16.activation_bytes == 8 * 2


def test_keras_ops_in_functional_graphs():
    a = keras.Input((3, 4))
    b = keras.Input((4, 5))
    prod = keras.ops.matmul(a, b)  # 3 * 5 outputs, 4 products each
    act = keras.ops.relu(keras.ops.add(prod, 1.0))
    pooled = keras.ops.mean(act, axis=1)
    out = keras.ops.reshape(pooled, (5, 1))
    model = keras.Model([a, b], out)
    prof = tfc.profile(model)
    assert prof.unknown_layers == []
    assert [row.macs for row in prof.layers] == [3 * 5 * 4, 0, 0, 0, 0]
    assert [row.other_ops for row in prof.layers] == [0, 15, 15, 15, 0]


def test_layer_subclass_uses_its_base_class_cost():
    class MyConv(L.Conv2D):
        pass

    row = _single(MyConv(2, 3, use_bias=False), (5, 5, 1))
    assert row.class_name == "MyConv"
    assert row.macs == 3 * 3 * 2 * 9


RECURRENT = {
    # steps * gates * units * (features + units); bias: steps*gates*units.
    "simple_rnn": (lambda: L.SimpleRNN(3), 5 * 1 * 3 * (2 + 3), 5 * 3),
    "gru": (lambda: L.GRU(3), 5 * 3 * 3 * (2 + 3), 5 * 3 * 3),
    "lstm": (lambda: L.LSTM(3), 5 * 4 * 3 * (2 + 3), 5 * 4 * 3),
    "bidirectional_lstm": (
        lambda: L.Bidirectional(L.LSTM(3)),
        2 * 5 * 4 * 3 * (2 + 3),
        2 * 5 * 4 * 3,
    ),
    # 5 steps of Dense(4) on 2 features; bias 5 * 4.
    "time_distributed": (
        lambda: L.TimeDistributed(L.Dense(4)),
        5 * 2 * 4,
        5 * 4,
    ),
}


@pytest.mark.parametrize("case", sorted(RECURRENT))
def test_recurrent_and_wrapper_costs(case):
    factory, macs, other = RECURRENT[case]
    row = _single(factory(), (5, 2))
    assert (row.macs, row.other_ops) == (macs, other)
