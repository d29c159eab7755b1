"""`from_arrays`: a `DatasetBundle` from numpy arrays already in memory."""

import numpy as np

from tf_compact.data.splits import loader_options
from tf_compact.data.splits import make_bundle
from tf_compact.data.splits import split_off
from tf_compact.data.splits import validate_split_fraction


def _validate_pair(x, y, xname, yname):
    if x.ndim < 2:
        raise ValueError(
            f"Invalid value for argument `{xname}`. Expected an array of "
            f"shape (N, ...) with at least 2 axes. Received: "
            f"{xname}.shape={x.shape}"
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2 and _is_one_hot(y):
        y = np.argmax(y, axis=1)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"Invalid value for argument `{yname}`. Expected integer labels "
            f"of shape ({len(x)},) or one-hot rows of shape ({len(x)}, "
            f"classes) matching `{xname}`. Received: {yname}.shape={y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) and not np.all(
        np.equal(np.mod(y, 1), 0)
    ):
        raise TypeError(
            f"Invalid value for argument `{yname}`. Expected integer "
            f"class labels. Received: {yname}.dtype={y.dtype}"
        )
    if len(y) and y.min() < 0:
        raise ValueError(
            f"Invalid value for argument `{yname}`. Expected labels >= 0. "
            f"Received: min({yname})={y.min()}"
        )
    return y.astype(np.int32)


def _is_one_hot(y):
    """Whether every row of a 2-D label array has a single 1, else 0."""
    if not len(y) or not np.issubdtype(y.dtype, np.number):
        return False
    binary = np.all((y == 0) | (y == 1))
    return bool(binary and np.all(y.sum(axis=1) == 1))


def _scale_for(x, normalize):
    if normalize is None:
        return None
    if normalize == "auto":
        if x.dtype == np.uint8:
            return 1.0 / 255.0
        if np.issubdtype(x.dtype, np.integer):
            return 1.0 / float(np.iinfo(x.dtype).max)
        return None
    if isinstance(normalize, bool) or not isinstance(
        normalize, (int, float, np.number)
    ):
        raise ValueError(
            "Invalid value for argument `normalize`. Expected 'auto', None "
            f"or a positive number. Received: normalize={normalize!r}"
        )
    return float(normalize)


def _class_names(class_names, labels):
    top = int(max(int(y.max()) if len(y) else 0 for y in labels))
    if class_names is None:
        return [str(i) for i in range(top + 1)]
    names = [str(n) for n in class_names]
    if top >= len(names):
        raise ValueError(
            "Invalid value for argument `class_names`. Expected at least "
            f"{top + 1} names for labels up to {top}. Received: "
            f"{len(names)} names"
        )
    return names


def from_arrays(
    x,
    y,
    x_test=None,
    y_test=None,
    class_names=None,
    batch_size=128,
    validation_split=0.0,
    test_split=0.2,
    limit=None,
    seed=0,
    shuffle_buffer=None,
    normalize="auto",
    source="in-memory arrays",
):
    """Builds a `DatasetBundle` from numpy arrays.

    Works for images `(N, H, W, C)` as well as signals `(N, T, C)` or any
    `(N, ...)` features with integer labels.

    Args:
        x: Training features, shape `(N, ...)`.
        y: Integer labels, shape `(N,)` or `(N, 1)`, or one-hot rows of
            shape `(N, classes)` (`keras.utils.to_categorical`), kept as
            their class ids.
        x_test: Test features; when `None`, `test_split` of `x` (chosen
            with `seed`) becomes the test set. Defaults to `None`.
        y_test: Test labels, in the same forms as `y`. Defaults to
            `None`.
        class_names: Names of the classes; `None` names them `"0"`, `"1"`,
            ... up to the largest label. Defaults to `None`.
        batch_size: Examples per batch. Defaults to `128`.
        validation_split: Fraction of the training examples held out as
            `bundle.val`. Defaults to `0.0`.
        test_split: Fraction of `x` used as test set when `x_test` is
            `None`. Defaults to `0.2`.
        limit: Cap on training and on test examples. Defaults to `None`.
        seed: Seed of subset, splits and shuffle. Defaults to `0`.
        shuffle_buffer: Shuffle buffer size, `None` for all. Defaults to
            `None`.
        normalize: `"auto"` divides unsigned 8-bit features by 255 and other
            integer features by their dtype's maximum and leaves floats as
            they are; a number multiplies the features by it; `None`
            leaves them unscaled. Defaults to `"auto"`.
        source: Text stored as `bundle.source`. Defaults to
            `"in-memory arrays"`.

    Returns:
        A `DatasetBundle`.

    Raises:
        ValueError: If shapes, labels or options are invalid.
        TypeError: If labels are not integers.

    Example:

    ```python
    x = np.random.rand(100, 128, 3).astype("float32")
    y = np.random.randint(0, 6, size=100)
    bundle = tf_compact.data.from_arrays(x, y, batch_size=16)
    ```
    """
    opts = loader_options(
        batch_size, validation_split, limit, seed, shuffle_buffer
    )
    return bundle_from_arrays(
        (x, y, x_test, y_test), class_names, opts, test_split, normalize, source
    )


def bundle_from_arrays(
    arrays, class_names, opts, test_split, normalize, source, config=None
):
    """Validates `(x, y, x_test, y_test)` and builds the bundle.

    Shared by `from_arrays` and `from_folder`; `opts` comes from
    `loader_options`, the other arguments are those of `from_arrays`.
    """
    x, y, x_test, y_test = arrays
    seed = opts["seed"]
    x = np.asarray(x)
    y = _validate_pair(x, np.asarray(y), "x", "y")
    scale = _scale_for(x, normalize)
    if (x_test is None) != (y_test is None):
        raise ValueError(
            "Arguments `x_test` and `y_test` go together. Received: "
            f"x_test is None={x_test is None}, y_test is None={y_test is None}"
        )
    if x_test is None:
        validate_split_fraction(test_split, "test_split")
        rng = np.random.default_rng(seed + 1)
        x, y, x_test, y_test = split_off(x, y, test_split, rng)
        if x_test is None:
            x_test, y_test = x[:0], y[:0]
    else:
        x_test = np.asarray(x_test)
        y_test = _validate_pair(x_test, np.asarray(y_test), "x_test", "y_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                "Arguments `x` and `x_test` must have the same example shape. "
                f"Received: {x.shape[1:]} and {x_test.shape[1:]}"
            )
    names = _class_names(class_names, [y, y_test])
    splits = {"x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test}
    return make_bundle(splits, names, source, scale, opts, config)
