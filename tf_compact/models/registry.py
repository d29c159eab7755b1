"""`get`: the reference models reached by name."""

import functools

from tf_compact.models.conv1d_net import conv1d_net
from tf_compact.models.mobilenet_v2 import mobilenet_v2
from tf_compact.models.resnet import resnet
from tf_compact.models.small_cnn import small_cnn
from tf_compact.models.vgg import vgg

BUILDERS = {
    "resnet": resnet,
    "resnet20": functools.partial(resnet, depth=20),
    "resnet32": functools.partial(resnet, depth=32),
    "resnet56": functools.partial(resnet, depth=56),
    "vgg": vgg,
    "mobilenet_v2": mobilenet_v2,
    "conv1d_net": conv1d_net,
    "small_cnn": small_cnn,
}


def _normalize(name):
    return name.lower().replace("-", "").replace("_", "")


def get(name, /, **kwargs):
    """Builds a reference model by name.

    Args:
        name: One of `"resnet"`, `"resnet20"`, `"resnet32"`, `"resnet56"`,
            `"vgg"`, `"mobilenet_v2"`, `"conv1d_net"`, `"small_cnn"`
            (case, `-` and `_` are ignored: `"ResNet-20"` works).
            Positional only, so `name=` in `kwargs` names the model.
        **kwargs: Passed to the builder (`input_shape`, `num_classes`,
            `width_multiplier`, `name`, ...).

    Returns:
        A new `keras.Model`.

    Raises:
        ValueError: If `name` is unknown.

    Example:

    ```python
    model = tf_compact.models.get("resnet20", width_multiplier=0.5)
    ```
    """
    keys = {_normalize(k): k for k in BUILDERS}
    key = keys.get(_normalize(name)) if isinstance(name, str) else None
    if key is None:
        raise ValueError(
            "Invalid value for argument `name`. Expected one of "
            f"{sorted(BUILDERS)}. Received: name={name!r}"
        )
    return BUILDERS[key](**kwargs)
