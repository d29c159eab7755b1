"""Registers the handlers of the built-in Keras layers and operations."""

from keras import layers as L

from tf_compact.graph import handlers_attention as A
from tf_compact.graph import handlers_shape as S
from tf_compact.graph import handlers_weighted as W
from tf_compact.graph.registry import register_handler
from tf_compact.internal import keras_compat

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
# Dot-product attention without weights mixes every feature of the query
# and key: kept whole.
_DOT_ATTENTION = "Attention AdditiveAttention"
_MERGES = "Add Subtract Multiply Average Maximum Minimum"
_CONVS = "Conv1D Conv2D Conv3D"
_TRANSPOSED = "Conv1DTranspose Conv2DTranspose Conv3DTranspose"
_OP_MERGES = "Add Subtract Multiply Divide TrueDivide Maximum Minimum Power"
# Tensor ops whose channel mapping the graph does not follow (token mixing,
# sequence pooling): the channels around them are kept.
_OP_FIXED = "Matmul Transpose Squeeze ExpandDims Einsum Tensordot"
_OP_UNARY = "Abs Absolute Negative Square Sqrt Exp Tanh Clip"
_NN_UNARY = (
    "Relu Relu6 Sigmoid HardSigmoid HardSilu Silu Gelu Softplus Elu Selu "
    "LeakyRelu"
)


def _register(module, names, handler):
    if module is None:
        return
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
    _register(L, "Resizing CenterCrop", S.PreprocessingHandler())
    _register(L, _CONVS, W.ConvHandler())
    _register(L, _TRANSPOSED, W.ConvTransposeHandler())
    _register(L, "DepthwiseConv1D DepthwiseConv2D", W.DepthwiseHandler())
    _register(L, "SeparableConv1D SeparableConv2D", W.SeparableHandler())
    _register(L, "Dense", W.DenseHandler())
    _register(L, "BatchNormalization", W.BatchNormHandler())
    _register(L, "LayerNormalization RMSNormalization", W.LayerNormHandler())
    _register(L, "GroupNormalization", W.GroupNormHandler())
    _register(L, "Normalization", W.NormalizationHandler())
    _register(L, "MultiHeadAttention", A.MultiHeadAttentionHandler())
    _register(
        L,
        "GroupQueryAttention GroupedQueryAttention",
        A.GroupQueryAttentionHandler(),
    )
    _register(L, _DOT_ATTENTION, S.FixedHandler())


def _register_ops():
    knp = keras_compat.ops_module("numpy")
    nn = keras_compat.ops_module("nn")
    _register(knp, _OP_MERGES, S.MergeHandler())
    _register(knp, _OP_UNARY, S.PassThroughHandler())
    _register(knp, _OP_FIXED, S.FixedHandler())
    _register(nn, _NN_UNARY, S.PassThroughHandler())
    _register(nn, "Softmax LogSoftmax", S.ChannelReduceHandler())


def _register_applications():
    convnext = keras_compat.applications_module("convnext")
    inception = keras_compat.applications_module("inception_resnet_v2")
    _register(convnext, "LayerScale", W.LayerScaleHandler())
    _register(convnext, "StochasticDepth", S.PassThroughHandler())
    _register(inception, "CustomScaleLayer", S.MergeHandler())


def _register_preprocessing():
    """Every preprocessing/augmentation layer, found from Keras's bases.

    Rescaling and Normalization keep their own handlers; the others, and
    any subclass of Keras's preprocessing base layers, get the
    `PreprocessingHandler`.
    """
    handler = S.PreprocessingHandler()
    bases = (keras_compat.DataLayer, keras_compat.BaseImagePreprocessingLayer)
    for cls in [b for b in bases if b is not None]:
        register_handler(cls, handler)
    own = (L.Rescaling, L.Normalization)
    for cls in keras_compat.preprocessing_layer_classes():
        if not issubclass(cls, own):
            register_handler(cls, handler)


def register_builtin_handlers():
    """Registers the handlers of every built-in layer the graph supports."""
    _register_layers()
    _register_ops()
    _register_applications()
    _register_preprocessing()
