"""Calibration data at another scale than the model takes.

A model that scales its own inputs (`keras.layers.Rescaling(1 / 255)`
first, the convention `keras.utils.image_dataset_from_directory` follows)
takes raw pixels. Calibrating it for int8 with pixels already divided by
255 sets every activation range from inputs a 255th of their size: the
int8 model loses accuracy, and the conversion check, run on the same
data, cannot see it. `warn_if_prescaled` says so before converting.
"""

import numpy as np

from tf_compact.internal.input_rescaling import RAW_SCALE_BELOW
from tf_compact.internal.input_rescaling import leading_rescaling
from tf_compact.internal.input_rescaling import rescaling_scale
from tf_compact.internal.user_warning import warn


def warn_if_prescaled(model, batch):
    """Warns when `batch`, scaled by the model's leading `Rescaling`,
    stays under `RAW_SCALE_BELOW`: calibration data divided already.

    Args:
        model: The Keras model being converted.
        batch: The first calibration batch of its single input.

    Example:

    ```python
    warn_if_prescaled(model, x_train[:32] / 255.0)  # warns for Rescaling
    ```
    """
    layer = leading_rescaling(model)
    scale = None if layer is None else rescaling_scale(layer)
    if scale is None:
        return
    largest = float(np.max(np.abs(np.asarray(batch, dtype=float)), initial=0))
    if largest == 0 or largest * scale >= RAW_SCALE_BELOW:
        return
    warn(
        "tfc.lite.convert: the calibration data reach at most "
        f"{largest:.3g}, and the model's first layer {layer.name!r} "
        f"(Rescaling, scale {scale:.4g}) takes inputs up to about "
        f"{1 / scale:.4g}: the data look scaled already. int8 "
        "ranges calibrated on them cost accuracy, and the conversion "
        "check, run on the same data, cannot see it. Pass the data as the "
        "model takes them (e.g. pixels not divided by 255).",
    )
