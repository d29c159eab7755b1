"""tf_compact.models: reference architectures as Keras Functional models.

Every builder returns a new, untrained Functional model whose channels
`tfc.ChannelGraph` understands; `get` builds one by name.

Example:

```python
model = tfc.models.small_cnn(input_shape=(28, 28, 1), num_classes=10)
same_kind = tfc.models.get("small_cnn", input_shape=(28, 28, 1))
print(tfc.profile(model).macs)
```
"""

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
