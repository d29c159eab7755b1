"""Small models, one per supported layer kind, for the tests."""

import keras
from keras import layers as L


def _img(shape=(6, 6, 3)):
    return keras.Input(shape)


def conv_chain():
    x = _img()
    y = L.Conv2D(6, 3, padding="same")(x)
    y = L.BatchNormalization(beta_initializer="ones")(y)
    y = L.ReLU()(y)
    y = L.Conv2D(5, 3, use_bias=False)(y)
    y = L.BatchNormalization(center=False)(y)
    return keras.Model(x, L.Conv2D(4, 1)(y))


def conv1d_chain():
    x = keras.Input((10, 3))
    y = L.Conv1D(6, 3, activation="relu")(x)
    y = L.MaxPooling1D()(y)
    y = L.ZeroPadding1D(1)(y)
    y = L.Cropping1D(1)(y)
    y = L.UpSampling1D()(y)
    y = L.Conv1D(5, 3)(y)
    y = L.GlobalAveragePooling1D()(y)
    return keras.Model(x, L.Dense(3)(y))


def conv3d_chain():
    x = keras.Input((4, 4, 4, 2))
    y = L.Conv3D(5, 2, padding="same")(x)
    y = L.AveragePooling3D(2)(y)
    return keras.Model(x, L.Conv3D(3, 1)(y))


def transposed():
    x = _img()
    y = L.Conv2DTranspose(6, 3, strides=2)(x)
    y = L.LeakyReLU()(y)
    y = L.Conv2DTranspose(5, 2)(y)
    return keras.Model(x, L.Conv2D(3, 1)(y))


def depthwise():
    x = _img()
    y = L.Conv2D(6, 1)(x)
    y = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(y)
    y = L.BatchNormalization()(y)
    y = L.DepthwiseConv2D(3)(y)
    return keras.Model(x, L.Conv2D(4, 1)(y))


def depthwise1d():
    x = keras.Input((9, 2))
    y = L.Conv1D(6, 1)(x)
    y = L.DepthwiseConv1D(3, depth_multiplier=3)(y)
    return keras.Model(x, L.Conv1D(2, 1)(y))


def separable():
    x = _img()
    y = L.Conv2D(6, 1)(x)
    y = L.SeparableConv2D(7, 3, depth_multiplier=2, padding="same")(y)
    y = L.SeparableConv2D(5, 3)(y)
    return keras.Model(x, L.Conv2D(3, 1)(y))


def separable1d():
    x = keras.Input((9, 3))
    y = L.SeparableConv1D(6, 3, depth_multiplier=2)(x)
    return keras.Model(x, L.SeparableConv1D(3, 3)(y))


def dense_chain():
    x = keras.Input((7,))
    y = L.Dense(8)(x)
    y = L.PReLU(alpha_initializer="random_uniform")(y)
    y = L.Dropout(0.5)(y)
    y = L.Dense(6, activation="elu")(y)
    y = L.GaussianNoise(0.1)(y)
    return keras.Model(x, L.Dense(3)(y))


def residual(merge="Add"):
    x = _img()
    a = L.Conv2D(6, 3, padding="same")(x)
    b = L.Conv2D(6, 3, padding="same")(a)
    c = getattr(L, merge)()([a, b])
    d = L.Conv2D(6, 1)(c)
    e = L.Add()([c, d])
    return keras.Model(x, L.Conv2D(3, 1)(e))


def concat():
    x = _img()
    a = L.Conv2D(4, 3, padding="same")(x)
    b = L.Conv2D(5, 1)(x)
    c = L.Concatenate()([a, b, a])
    d = L.Conv2D(3, 1)(c)
    return keras.Model(x, L.Concatenate()([d, L.Conv2D(2, 1)(c)]))


def flatten_dense():
    x = _img((5, 5, 2))
    y = L.Conv2D(4, 3)(x)
    y = L.Flatten()(y)
    y = L.Dense(6)(y)
    return keras.Model(x, L.Dense(2)(y))


def se_block():
    x = _img()
    y = L.Conv2D(8, 1)(x)
    s = L.GlobalAveragePooling2D()(y)
    s = L.Reshape((1, 1, 8))(s)
    s = L.Conv2D(3, 1, activation="relu")(s)
    s = L.Conv2D(8, 1, activation="sigmoid")(s)
    y = L.Multiply()([y, s])
    t = L.GlobalAveragePooling2D(keepdims=True)(y)
    t = L.Dense(2)(t)
    t = L.Dense(8, activation="hard_sigmoid")(t)
    y = L.Multiply()([y, t])
    return keras.Model(x, L.Conv2D(3, 1)(y))


def norms():
    x = _img()
    y = L.Conv2D(8, 1)(x)
    y = L.GroupNormalization(groups=4, beta_initializer="ones")(y)
    y = L.Conv2D(6, 1)(y)
    y = L.LayerNormalization()(y)
    y = L.Conv2D(6, 1)(y)
    y = L.GroupNormalization(groups=6)(y)
    y = L.LayerNormalization(axis=(1, 2))(y)
    return keras.Model(x, L.Conv2D(3, 1)(y))


def spatial_ops():
    x = _img((8, 8, 3))
    y = L.Conv2D(5, 3, padding="same")(x)
    y = L.ZeroPadding2D(1)(y)
    y = L.MaxPooling2D()(y)
    y = L.Cropping2D(1)(y)
    y = L.UpSampling2D()(y)
    y = L.SpatialDropout2D(0.2)(y)
    y = L.Activation("swish")(y)
    y = L.Identity()(y)
    y = L.Conv2D(4, 1)(y)
    y = L.GlobalMaxPooling2D()(y)
    return keras.Model(x, L.Dense(2)(y))


def nested():
    inner = keras.Sequential(
        [keras.Input((6, 6, 4)), L.Conv2D(5, 3), L.BatchNormalization()],
        name="inner_seq",
    )
    xi = keras.Input((4, 4, 5))
    yi = L.Conv2D(6, 1, name="inner_conv")(xi)
    func = keras.Model(xi, L.ReLU()(yi), name="inner_func")
    x = _img()
    y = L.Conv2D(4, 1)(x)
    y = inner(y)
    y = func(y)
    return keras.Model(x, L.Conv2D(3, 1)(y))


def grouped_conv():
    x = _img()
    y = L.Conv2D(8, 1)(x)
    y = L.Conv2D(8, 3, groups=4)(y)
    y = L.Conv2D(6, 1)(y)
    return keras.Model(x, L.Conv2D(3, 1)(y))


def grouped_depthwise():
    """Convolutions with one input channel per group, as in ConvNeXt."""
    x = _img()
    y = L.Conv2D(6, 1)(x)
    y = L.Conv2D(12, 3, groups=6, padding="same")(y)
    y = L.BatchNormalization()(y)
    y = L.Conv2D(4, 1)(y)
    skip = y
    y = L.Conv2D(4, 3, groups=4, padding="same", use_bias=False)(y)
    y = L.LayerNormalization(epsilon=1e-6)(y)
    y = L.Dense(8, activation="gelu")(y)
    y = L.Dense(4)(y)
    y = L.Add()([skip, y])
    return keras.Model(x, L.Conv2D(3, 1)(y))


def keras_ops():
    x = _img()
    y = L.Conv2D(6, 1)(x)
    y = y * keras.ops.relu6(y + 3.0) * (1.0 / 6.0)
    y = keras.ops.sigmoid(y) - 0.5
    return keras.Model(x, L.Conv2D(3, 1)(y))


def reshapes():
    x = keras.Input((4,))
    y = L.Dense(2 * 2 * 5)(x)
    y = L.Reshape((2, 2, 5))(y)
    y = L.Conv2D(6, 1)(y)
    y = L.Reshape((4, 6))(y)
    y = L.Conv1D(4, 1)(y)
    y = L.Reshape((-1,))(y)
    return keras.Model(x, L.Dense(2)(y))


def applications_layers():
    from keras.src.applications import convnext
    from keras.src.applications import inception_resnet_v2

    x = _img()
    y = L.Rescaling(1.0 / 255)(x)
    y = L.Conv2D(6, 1)(y)
    r = L.Conv2D(6, 1)(y)
    r = convnext.LayerScale(0.5, 6)(r)
    r = convnext.StochasticDepth(0.1)(r)
    y = inception_resnet_v2.CustomScaleLayer(0.3)([y, r])
    return keras.Model(x, L.Conv2D(3, 1)(y))


BUILDERS = [
    conv_chain,
    conv1d_chain,
    conv3d_chain,
    transposed,
    depthwise,
    depthwise1d,
    separable,
    separable1d,
    dense_chain,
    residual,
    concat,
    flatten_dense,
    se_block,
    norms,
    spatial_ops,
    nested,
    grouped_conv,
    grouped_depthwise,
    keras_ops,
    reshapes,
    applications_layers,
]
