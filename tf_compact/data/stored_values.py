"""Features as stored, for models that take raw pixel values.

The loaders scale stored pixels to floats in `[0, 1]`. A model that takes
the pixels themselves would cast those floats to 0 or 1 (an integer
input, `keras.Input(..., dtype="uint8")`, then its own `Rescaling`) or
see inputs a 255th of their size (a float input whose first layer is
`Rescaling(1 / 255)`); it is fed the stored values instead.
"""

import numpy as np
import tensorflow as tf

from tf_compact.internal.input_rescaling import takes_raw_values
from tf_compact.internal.user_warning import warn


class StoredValuesBundle:
    """A dataset bundle whose features are its stored values, unscaled.

    Wraps a `DatasetBundle` (or `StreamingBundle`) with a `scale`: its
    `train`, `val` and `test` pipelines yield the features divided by that
    scale and rounded (the stored integers, as float32), then normalized
    as `(value - mean) / std` when those are given; `scale` is `None`,
    and everything else (`class_names`, `num_examples`, ...) is the
    bundle's own.

    Args:
        bundle: the bundle to wrap.
        mean: one value, or one per channel, subtracted from the stored
            values. Defaults to `None` (nothing).
        std: one value, or one per channel, the result is divided by.
            Defaults to `None` (nothing).
    """

    scale = None

    def __init__(self, bundle, mean=None, std=None):
        self._bundle = bundle
        self._mean = 0.0 if mean is None else np.asarray(mean, "float32")
        self._std = 1.0 if std is None else np.asarray(std, "float32")

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

        mean, std = self._mean, self._std

        def unscale(x, *rest):
            x = tf.nest.map_structure(
                lambda t: (tf.round(t / scale) - mean) / std, x
            )
            return (x, *rest)

        return dataset.map(unscale, num_parallel_calls=tf.data.AUTOTUNE)

    def __repr__(self):
        return f"StoredValuesBundle({self._bundle!r})"


def keras_inputs(model):
    """`[(shape without the batch axis, raw)]` of a Keras model's inputs,
    `raw` for an input that takes stored pixel values (an integer one, or
    any input of a model that starts with `Rescaling(1 / 255)`); empty
    for a model that does not know them."""
    try:
        inputs = list(model.inputs or [])
    except (AttributeError, ValueError):
        return []
    raw = takes_raw_values(model)
    return [(tuple(t.shape[1:]), raw or _is_integer(t)) for t in inputs]


def stored_values_for(bundle, model):
    """`bundle`, or a `StoredValuesBundle` of it when `model` takes raw
    pixel values (integer inputs, or a leading `Rescaling(1 / 255)`) and
    the bundle scales its features.

    A float model whose `Rescaling` says raw pixels but that scores
    clearly better (by `TRAINED_ON_SCALED_BY`, and above halfway from
    chance to 100%) on a test batch of the bundle's scaled features was
    trained on those: it keeps them, with a warning.

    Args:
        bundle: a `DatasetBundle`, or any data (returned as it is).
        model: a Keras model.

    Example:

    ```python
    data = stored_values_for(tfc.data.from_folder("photos/"), uint8_model)
    ```
    """
    stored = for_inputs(bundle, keras_inputs(model))
    if stored is bundle or integer_inputs(model):
        return stored
    scaled_hits, stored_hits, chance = _test_accuracy(model, bundle, stored)
    # An untrained model scores near chance both ways: it keeps the rule.
    learned = chance is not None and scaled_hits > (1 + chance) / 2
    if not learned or scaled_hits < stored_hits + TRAINED_ON_SCALED_BY:
        return stored
    warn(
        f"Model {model.name!r} starts with Rescaling, so it would take raw "
        f"pixels, but it scores {scaled_hits:.0%} on a test batch of the "
        f"data as loaded (scaled by {bundle.scale:.4g}) and {stored_hits:.0%} "
        "on the raw pixels: it was trained on the scaled data, which it "
        "is given. Its app metadata then describes scaled inputs."
    )
    return bundle


#: How much higher a float model must score on scaled features than on
#: the stored ones to keep the scaled features.
TRAINED_ON_SCALED_BY = 0.1


def _is_integer(tensor):
    return np.dtype(str(tensor.dtype)).kind in "iu"


def integer_inputs(model):
    """Whether any input of `model` takes integers (e.g. uint8 pixels).

    Example:

    ```python
    integer_inputs(keras.Model(keras.Input((8, 8, 3), dtype="uint8"), y))
    ```
    """
    return any(_is_integer(t) for t in model.inputs)


def _test_accuracy(model, bundle, stored):
    """Top-1 accuracy of `model` on one test batch of `bundle` and of
    `stored`, and the chance accuracy; `None`s when it cannot be told (no
    test split, not a classifier of integer labels)."""
    try:
        (x, y), (raw, _) = (
            next(iter(split.take(1))) for split in (bundle.test, stored.test)
        )
    except (AttributeError, TypeError, StopIteration):
        return None, None, None
    y = np.asarray(y)
    hits = []
    for features in (x, raw):
        out = np.asarray(model(features, training=False))
        if out.ndim != 2 or out.shape[-1] < 2 or y.shape != out.shape[:1]:
            return None, None, None
        hits.append(float(np.mean(np.argmax(out, -1) == y)))
    return hits[0], hits[1], 1.0 / out.shape[-1]


def for_inputs(bundle, inputs):
    """As `stored_values_for`, from `[(shape, raw)]` input pairs."""
    raw = any(takes_raw for _, takes_raw in inputs)
    if raw and getattr(bundle, "scale", None):
        return StoredValuesBundle(bundle)
    return bundle
