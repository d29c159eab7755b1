"""Registers the handlers of the built-in Keras layers and operations."""

from keras import layers as L

from tf_compact.graph import handlers_shape as S
from tf_compact.graph import handlers_weighted as W
from tf_compact.graph.registry import register_handler

_PASSTHROUGH = (
    "ReLU LeakyReLU ELU Dropout SpatialDropout1D SpatialDropout2D "
    "SpatialDropout3D GaussianNoise GaussianDropout AlphaDropout "
    "ActivityRegularization Identity Masking RepeatVector "
    "MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D "
    "AveragePooling2D AveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D "
    "GlobalMaxPooling3D GlobalAveragePooling1D GlobalAveragePooling2D "
    "GlobalAveragePooling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D "
    "Cropping1D Cropping2D Cropping3D UpSampling1D UpSampling2D UpSampling3D"
)
_MERGES = "Add Subtract Multiply Average Maximum Minimum"
_CONVS = "Conv1D Conv2D Conv3D"
_TRANSPOSED = "Conv1DTranspose Conv2DTranspose Conv3DTranspose"
_OP_MERGES = "Add Subtract Multiply Divide TrueDivide Maximum Minimum Power"
_OP_UNARY = "Abs Absolute Negative Square Sqrt Exp Tanh Clip"
_NN_UNARY = (
    "Relu Relu6 Sigmoid HardSigmoid HardSilu Silu Gelu Softplus Elu Selu "
    "LeakyRelu"
)


def _register(module, names, handler):
    for name in names.split():
        cls = getattr(module, name, None)
        if cls is not None:
            register_handler(cls, handler)


def _register_layers():
    _register(L, _PASSTHROUGH, S.PassThroughHandler())
    _register(L, "PReLU", S.PassThroughHandler(per_channel=("alpha",)))
    _register(L, "Activation", S.ActivationHandler())
    _register(L, "Softmax UnitNormalization", S.ChannelReduceHandler())
    _register(L, _MERGES, S.MergeHandler())
    _register(L, "Concatenate", S.ConcatenateHandler())
    _register(L, "Flatten", S.FlattenHandler())
    _register(L, "Reshape", S.ReshapeHandler())
    _register(L, "Permute", S.PermuteHandler())
    _register(L, "Rescaling", S.RescalingHandler())
    _register(L, _CONVS, W.ConvHandler())
    _register(L, _TRANSPOSED, W.ConvTransposeHandler())
    _register(L, "DepthwiseConv1D DepthwiseConv2D", W.DepthwiseHandler())
    _register(L, "SeparableConv1D SeparableConv2D", W.SeparableHandler())
    _register(L, "Dense", W.DenseHandler())
    _register(L, "BatchNormalization", W.BatchNormHandler())
    _register(L, "LayerNormalization RMSNormalization", W.LayerNormHandler())
    _register(L, "GroupNormalization", W.GroupNormHandler())
    _register(L, "Normalization", W.NormalizationHandler())


def _register_ops():
    from keras.src.ops import nn
    from keras.src.ops import numpy as knp

    _register(knp, _OP_MERGES, S.MergeHandler())
    _register(knp, _OP_UNARY, S.PassThroughHandler())
    _register(nn, _NN_UNARY, S.PassThroughHandler())
    _register(nn, "Softmax LogSoftmax", S.ChannelReduceHandler())


def _register_applications():
    from keras.src.applications import convnext
    from keras.src.applications import inception_resnet_v2

    register_handler(convnext.LayerScale, W.LayerScaleHandler())
    register_handler(convnext.StochasticDepth, S.PassThroughHandler())
    register_handler(inception_resnet_v2.CustomScaleLayer, S.MergeHandler())


def register_builtin_handlers():
    """Registers the handlers of every built-in layer the graph supports."""
    _register_layers()
    _register_ops()
    _register_applications()
