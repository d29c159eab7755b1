"""`DatasetBundle`: the train/validation/test pipelines of one dataset."""

import numpy as np
import tensorflow as tf


def check_int(name, value, minimum, expected, optional=False):
    """Checks that `value` is an int >= `minimum` (`None` too if `optional`).

    Raises:
        TypeError: If `value` is not an int (a bool is not one).
        ValueError: If `value` is below `minimum`.

    Both errors name the argument and say `expected` (`"a positive int"`).
    """
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"Invalid type for argument `{name}`. Expected {expected}. "
            f"Received: {name}={value!r}"
        )
    if value < minimum:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected {expected}. "
            f"Received: {name}={value}"
        )


def validate_batch_size(batch_size):
    check_int("batch_size", batch_size, 1, "a positive int")


def validate_shuffle_buffer(shuffle_buffer):
    expected = "a positive int or None"
    check_int("shuffle_buffer", shuffle_buffer, 1, expected, optional=True)


def _validate_scale(scale):
    if scale is None:
        return
    if isinstance(scale, bool) or not isinstance(
        scale, (int, float, np.number)
    ):
        raise TypeError(
            "Invalid type for argument `scale`. Expected a positive float or "
            f"None. Received: scale={scale!r}"
        )
    if not scale > 0:
        raise ValueError(
            "Invalid value for argument `scale`. Expected a positive float or "
            f"None. Received: scale={scale}"
        )


class DatasetBundle:
    """The train, validation and test pipelines of one dataset.

    Holds the examples as numpy arrays (images usually uint8) and builds
    batched, prefetched `tf.data.Dataset`s of `(float32 features, int32
    label)` on first access. Features are multiplied by `scale` (`1/255` for
    uint8 images, giving values in `[0, 1]`). The training pipeline is
    shuffled with `seed`; validation and test keep their order.

    Most users get a bundle from a loader (`tf_compact.data.load`,
    `fashion_mnist`, `from_arrays`, ...) rather than building one.

    Args:
        x_train: Training features, shape `(N, ...)`.
        y_train: Training labels, shape `(N,)`, integers.
        x_test: Test features.
        y_test: Test labels.
        class_names: Names of the classes, index = label.
        source: Human-readable text saying where the data came from.
        x_val: Validation features, or `None`. Defaults to `None`.
        y_val: Validation labels, or `None`. Defaults to `None`.
        batch_size: Examples per batch. Defaults to `128`.
        seed: Seed of the training shuffle. Defaults to `0`.
        shuffle_buffer: Size of the shuffle buffer; `None` shuffles the
            whole training set. Defaults to `None`.
        scale: Factor applied to the features after casting to float32;
            `None` leaves them unscaled. Defaults to `None`.
        config: The loader call that made this bundle, as returned by
            `get_config()`; `None` for bundles that cannot be rebuilt from
            a config. Defaults to `None`.

    Example:

    ```python
    bundle = tf_compact.data.builtin(batch_size=64)
    model.fit(bundle.train, validation_data=bundle.test, epochs=1)
    x_train, y_train, x_test, y_test = bundle.arrays()
    ```
    """

    def __init__(
        self,
        x_train,
        y_train,
        x_test,
        y_test,
        class_names,
        source,
        x_val=None,
        y_val=None,
        batch_size=128,
        seed=0,
        shuffle_buffer=None,
        scale=None,
        config=None,
    ):
        validate_batch_size(batch_size)
        validate_shuffle_buffer(shuffle_buffer)
        _validate_scale(scale)
        self._data = {
            "train": (np.asarray(x_train), np.asarray(y_train, np.int32)),
            "test": (np.asarray(x_test), np.asarray(y_test, np.int32)),
        }
        if x_val is not None:
            self._data["val"] = (np.asarray(x_val), np.asarray(y_val, np.int32))
        self._set_options(
            class_names, source, batch_size, seed, shuffle_buffer, scale, config
        )

    def _set_options(
        self,
        class_names,
        source,
        batch_size,
        seed,
        shuffle_buffer,
        scale,
        config,
    ):
        """Sets what every bundle holds besides its examples."""
        self.class_names = [str(n) for n in class_names]
        self.source = source
        self.batch_size = int(batch_size)
        self.seed = seed
        self.shuffle_buffer = shuffle_buffer
        self.scale = None if scale is None else float(scale)
        self._config = config
        self._pipelines = {}

    @property
    def num_classes(self):
        """Number of classes."""
        return len(self.class_names)

    @property
    def input_shape(self):
        """Shape of one example's features, without the batch axis."""
        return tuple(int(d) for d in self._data["train"][0].shape[1:])

    @property
    def train(self):
        """Shuffled, batched, prefetched training `tf.data.Dataset`."""
        return self._pipeline("train")

    @property
    def val(self):
        """Validation `tf.data.Dataset`, or `None` without a split."""
        return self._pipeline("val") if "val" in self._data else None

    @property
    def test(self):
        """Batched, prefetched test `tf.data.Dataset`, in file order."""
        return self._pipeline("test")

    def num_examples(self, split):
        """Returns the number of examples in `"train"`, `"val"` or `"test"`."""
        if split not in ("train", "val", "test"):
            raise ValueError(
                "Invalid value for argument `split`. Expected one of "
                f"'train', 'val', 'test'. Received: split={split!r}"
            )
        return len(self._data[split][1]) if split in self._data else 0

    def arrays(self, normalized=True):
        """Returns `(x_train, y_train, x_test, y_test)` as numpy arrays.

        Args:
            normalized: If `True`, features are float32 and scaled exactly
                as in the pipelines; if `False`, they are the stored arrays
                (uint8 for images). Defaults to `True`.

        Returns:
            A tuple of four numpy arrays; labels are int32. The training
            arrays exclude the validation split and are not shuffled.
        """
        x_train, y_train = self._data["train"]
        x_test, y_test = self._data["test"]
        if normalized:
            x_train, x_test = self._normalize(x_train), self._normalize(x_test)
        return x_train, y_train, x_test, y_test

    def val_arrays(self, normalized=True):
        """Returns `(x_val, y_val)`, or `None` without a validation split."""
        if "val" not in self._data:
            return None
        x, y = self._data["val"]
        return (self._normalize(x) if normalized else x), y

    def get_config(self):
        """Returns the loader call that rebuilds this bundle.

        Returns:
            A dict `{"loader": name, "kwargs": {...}}` of JSON values.

        Raises:
            ValueError: If the bundle was built from in-memory arrays.
        """
        if self._config is None:
            raise ValueError(
                "This DatasetBundle was built from in-memory arrays and has "
                "no config; save the arrays and call `from_arrays` instead."
            )
        return {
            "loader": self._config["loader"],
            "kwargs": dict(self._config["kwargs"]),
        }

    @classmethod
    def from_config(cls, config):
        """Rebuilds a bundle by calling the loader named in `config`."""
        from tf_compact.data import registry

        return registry.load_from_config(config)

    def _normalize(self, x):
        x = np.asarray(x, dtype=np.float32)
        return x * np.float32(self.scale) if self.scale is not None else x

    def _normalize_batch(self, x, y):
        x = tf.cast(x, tf.float32)
        if self.scale is not None:
            x = x * tf.constant(self.scale, tf.float32)
        return x, y

    def _pipeline(self, split):
        # Shuffles and batches indices, then gathers whole batches: much
        # faster than shuffling and batching examples one by one.
        if split not in self._pipelines:
            x, y = self._data[split]
            x, y = tf.constant(x), tf.constant(y)
            n = int(y.shape[0])
            ds = tf.data.Dataset.range(n)
            if split == "train":
                ds = ds.shuffle(
                    max(1, min(self.shuffle_buffer or n, n)),
                    seed=self.seed,
                    reshuffle_each_iteration=True,
                )
            ds = ds.batch(self.batch_size)
            ds = ds.map(
                lambda idx: self._normalize_batch(
                    tf.gather(x, idx), tf.gather(y, idx)
                ),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            self._pipelines[split] = ds.prefetch(tf.data.AUTOTUNE)
        return self._pipelines[split]

    def __repr__(self):
        sizes = ", ".join(f"{k}={len(v[1])}" for k, v in self._data.items())
        return (
            f"DatasetBundle({sizes}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes}, source={self.source!r})"
        )
