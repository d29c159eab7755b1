"""tf_compact.models: reference architectures as Keras Functional models."""

from tf_compact.models.conv1d_net import conv1d_net
from tf_compact.models.mobilenet_v2 import mobilenet_v2
from tf_compact.models.registry import get
from tf_compact.models.resnet import resnet
from tf_compact.models.small_cnn import small_cnn
from tf_compact.models.vgg import vgg

__all__ = [
    "conv1d_net",
    "get",
    "mobilenet_v2",
    "resnet",
    "small_cnn",
    "vgg",
]
