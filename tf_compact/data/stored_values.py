"""Features as stored, for models that take raw integers.

The loaders scale stored pixels to floats in `[0, 1]`. A model that takes
the pixels themselves (`keras.Input(..., dtype="uint8")`, then its own
`Rescaling`) would cast those floats to 0 or 1; it is fed the stored
values instead.
"""

import numpy as np
import tensorflow as tf


class StoredValuesBundle:
    """A dataset bundle whose features are its stored values, unscaled.

    Wraps a `DatasetBundle` (or `StreamingBundle`) with a `scale`: its
    `train`, `val` and `test` pipelines yield the features divided by that
    scale and rounded (the stored integers, as float32), `scale` is `None`,
    and everything else (`class_names`, `num_examples`, ...) is the
    bundle's own.

    Args:
        bundle: the bundle to wrap.
    """

    scale = None

    def __init__(self, bundle):
        self._bundle = bundle

    def __getattr__(self, name):
        return getattr(self._bundle, name)

    @property
    def train(self):
        return self._stored(self._bundle.train)

    @property
    def val(self):
        return self._stored(self._bundle.val)

    @property
    def test(self):
        return self._stored(self._bundle.test)

    def _stored(self, dataset):
        if dataset is None:
            return None
        scale = self._bundle.scale

        def unscale(x, *rest):
            x = tf.nest.map_structure(lambda t: tf.round(t / scale), x)
            return (x, *rest)

        return dataset.map(unscale, num_parallel_calls=tf.data.AUTOTUNE)

    def __repr__(self):
        return f"StoredValuesBundle({self._bundle!r})"


def keras_inputs(model):
    """`[(shape without the batch axis, integer)]` of a Keras model's
    inputs; empty for a model that does not know them."""
    try:
        inputs = list(model.inputs or [])
    except (AttributeError, ValueError):
        return []
    return [
        (tuple(t.shape[1:]), np.dtype(str(t.dtype)).kind in "iu")
        for t in inputs
    ]


def stored_values_for(bundle, model):
    """`bundle`, or a `StoredValuesBundle` of it when `model` takes integer
    inputs and the bundle scales its features.

    Args:
        bundle: a `DatasetBundle`, or any data (returned as it is).
        model: a Keras model.

    Example:

    ```python
    data = stored_values_for(tfc.data.from_folder("photos/"), uint8_model)
    ```
    """
    return for_inputs(bundle, keras_inputs(model))


def for_inputs(bundle, inputs):
    """As `stored_values_for`, from `[(shape, integer)]` input pairs."""
    integer = any(is_integer for _, is_integer in inputs)
    if integer and getattr(bundle, "scale", None):
        return StoredValuesBundle(bundle)
    return bundle
