"""`StreamingBundle`: a `DatasetBundle` whose examples are read on the fly."""

import numpy as np
import tensorflow as tf

from tf_compact.data.bundle import DatasetBundle
from tf_compact.data.bundle import validate_batch_size
from tf_compact.data.bundle import validate_shuffle_buffer

_SPLITS = ("train", "val", "test")


class StreamingBundle(DatasetBundle):
    """A `DatasetBundle` that reads its examples from disk while iterating.

    Each split is an unbatched `tf.data.Dataset` plus its example count.
    Nothing is held in memory: the pipelines shuffle the (cheap) source
    elements of the training split, then map `prepare` over them (for
    image folders: read, decode and resize one file), batch, cast the
    features to float32 times `scale` and the labels to int32, and
    prefetch. `arrays()` and `val_arrays()` still work but read the whole
    split into memory.

    Args:
        streams: Dict mapping `"train"`, `"test"` and optionally `"val"` to
            `(dataset, count)`; `dataset` yields `(x, label)` pairs.
        class_names: Names of the classes, index = label.
        source: Human-readable text saying where the data came from.
        input_shape: Shape of one prepared example, without batch axis.
        prepare: Function `(x, label) -> (features, label)` mapped after
            the shuffle, or `None`. Defaults to `None`.
        batch_size: Examples per batch. Defaults to `128`.
        seed: Seed of the training shuffle. Defaults to `0`.
        shuffle_buffer: Shuffle buffer size; `None` uses the whole training
            split, capped at `max_shuffle_buffer`. Defaults to `None`.
        scale: Factor applied to the features after casting to float32.
            Defaults to `None`.
        config: The loader call that made this bundle. Defaults to `None`.
        max_shuffle_buffer: Cap on the default shuffle buffer (for streams
            of decoded examples); `None` for no cap. Defaults to `None`.

    Example:

    ```python
    bundle = tf_compact.data.from_folder("flowers/", image_size=(64, 64))
    model.fit(bundle.train, validation_data=bundle.val, epochs=1)
    ```
    """

    def __init__(
        self,
        streams,
        class_names,
        source,
        input_shape,
        prepare=None,
        batch_size=128,
        seed=0,
        shuffle_buffer=None,
        scale=None,
        config=None,
        max_shuffle_buffer=None,
    ):
        validate_batch_size(batch_size)
        validate_shuffle_buffer(shuffle_buffer)
        self._streams = {
            k: (ds, int(n)) for k, (ds, n) in streams.items() if ds is not None
        }
        self._data = {}
        self._prepare = prepare
        self._input_shape = tuple(int(d) for d in input_shape)
        self._set_options(
            class_names, source, batch_size, seed, shuffle_buffer, scale, config
        )
        self._max_shuffle_buffer = max_shuffle_buffer

    @property
    def input_shape(self):
        """Shape of one example's features, without the batch axis."""
        return self._input_shape

    @property
    def val(self):
        """Validation `tf.data.Dataset`, or `None` without a split."""
        return self._pipeline("val") if "val" in self._streams else None

    def num_examples(self, split):
        """Returns the number of examples in `"train"`, `"val"` or `"test"`."""
        if split not in _SPLITS:
            raise ValueError(
                "Invalid value for argument `split`. Expected one of "
                f"'train', 'val', 'test'. Received: split={split!r}"
            )
        return self._streams[split][1] if split in self._streams else 0

    def arrays(self, normalized=True):
        """Reads the train and test splits into numpy arrays.

        Args:
            normalized: If `True`, features are float32 and scaled exactly
                as in the pipelines; if `False`, they are as read (uint8
                for images). Defaults to `True`.

        Returns:
            `(x_train, y_train, x_test, y_test)`, in stored order.
        """
        x_train, y_train = self._read("train", normalized)
        x_test, y_test = self._read("test", normalized)
        return x_train, y_train, x_test, y_test

    def val_arrays(self, normalized=True):
        """Returns `(x_val, y_val)`, or `None` without a validation split."""
        if "val" not in self._streams:
            return None
        return self._read("val", normalized)

    def _prepared(self, ds):
        if self._prepare is not None:
            ds = ds.map(self._prepare, num_parallel_calls=tf.data.AUTOTUNE)
        return ds

    def _read(self, split, normalized):
        xs, ys = [], []
        ds = self._prepared(self._streams[split][0]).batch(256)
        for x, y in ds:
            xs.append(x.numpy())
            ys.append(y.numpy().astype(np.int32))
        if not xs:
            empty = np.zeros((0, *self._input_shape), np.float32)
            return empty, np.zeros((0,), np.int32)
        x = np.concatenate(xs)
        return (self._normalize(x) if normalized else x), np.concatenate(ys)

    def _pipeline(self, split):
        if split not in self._pipelines:
            ds, n = self._streams[split]
            if split == "train":
                buffer = self.shuffle_buffer or n
                if self.shuffle_buffer is None and self._max_shuffle_buffer:
                    buffer = min(buffer, self._max_shuffle_buffer)
                ds = ds.shuffle(
                    max(1, min(buffer, n)),
                    seed=self.seed,
                    reshuffle_each_iteration=True,
                )
            ds = self._prepared(ds).batch(self.batch_size)
            ds = ds.map(
                lambda x, y: self._normalize_batch(x, tf.cast(y, tf.int32)),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            self._pipelines[split] = ds.prefetch(tf.data.AUTOTUNE)
        return self._pipelines[split]

    def __repr__(self):
        sizes = ", ".join(f"{k}={n}" for k, (_, n) in self._streams.items())
        return (
            f"StreamingBundle({sizes}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes}, source={self.source!r})"
        )


def split_stream(ds, count, fraction):
    """Cuts the last `fraction` of a stream off, in stored order.

    Returns:
        `((kept, kept_count), (cut, cut_count))`; `cut` is `None` when
        `fraction` rounds to no example.
    """
    cut = int(round(count * fraction))
    if cut == 0:
        return (ds, count), (None, 0)
    if cut >= count:
        raise ValueError(
            f"A split fraction of {fraction} leaves no examples out of "
            f"{count}. Use a smaller fraction or more data."
        )
    return (ds.take(count - cut), count - cut), (ds.skip(count - cut), cut)


def bundle_from_streams(streams, class_names, source, scale, opts, config):
    """Applies `limit` and `validation_split` to streams, then bundles them.

    `limit` keeps the first examples of each split and the validation split
    is the last `validation_split` of the (limited) training stream, so
    nothing is read until the pipelines are iterated.

    Args:
        streams: Dict with `"train"` and `"test"` `(dataset, count)`.
        class_names: Names of the classes.
        source: Text saying where the data came from.
        scale: Feature scale.
        opts: Options from `loader_options`.
        config: Loader config stored in the bundle.

    Returns:
        A `StreamingBundle` of decoded examples.
    """
    limited = {}
    for split, (ds, n) in streams.items():
        if opts["limit"] is not None and opts["limit"] < n:
            ds, n = ds.take(opts["limit"]), opts["limit"]
        limited[split] = (ds, n)
    train, val = split_stream(*limited["train"], opts["validation_split"])
    spec = limited["train"][0].element_spec[0]
    return StreamingBundle(
        {"train": train, "val": val, "test": limited["test"]},
        class_names,
        source,
        spec.shape,
        batch_size=opts["batch_size"],
        seed=opts["seed"],
        shuffle_buffer=opts["shuffle_buffer"],
        scale=scale,
        config=config,
        max_shuffle_buffer=10_000,
    )
