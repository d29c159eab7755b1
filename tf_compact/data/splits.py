"""Shared option checks and the limit/validation split of every loader."""

import numpy as np

from tf_compact.data.bundle import DatasetBundle
from tf_compact.data.bundle import check_int
from tf_compact.data.bundle import validate_batch_size
from tf_compact.data.bundle import validate_shuffle_buffer


def validate_split_fraction(value, name):
    """Checks that `value` is a float in `[0, 1)`."""
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.number)
    ):
        raise TypeError(
            f"Invalid type for argument `{name}`. Expected a float in "
            f"[0, 1). Received: {name}={value!r}"
        )
    if not 0.0 <= value < 1.0:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a float in "
            f"[0, 1). Received: {name}={value}"
        )


def validate_limit(limit):
    """Checks that `limit` is `None` or a positive int."""
    check_int("limit", limit, 1, "a positive int or None", optional=True)


def validate_seed(seed):
    """Checks that `seed` is a non-negative int."""
    check_int("seed", seed, 0, "a non-negative int")


def options_from(kw):
    """`loader_options` of a loader's keyword arguments (its `locals()`)."""
    return loader_options(
        kw["batch_size"],
        kw["validation_split"],
        kw["limit"],
        kw["seed"],
        kw["shuffle_buffer"],
    )


def loader_options(batch_size, validation_split, limit, seed, shuffle_buffer):
    """Checks the options every loader shares and collects them in a dict.

    Raises:
        TypeError: If an option has the wrong type.
        ValueError: If an option is out of range.
    """
    validate_batch_size(batch_size)
    validate_shuffle_buffer(shuffle_buffer)
    validate_split_fraction(validation_split, "validation_split")
    validate_limit(limit)
    validate_seed(seed)
    return {
        "batch_size": batch_size,
        "validation_split": validation_split,
        "limit": limit,
        "seed": seed,
        "shuffle_buffer": shuffle_buffer,
    }


def subset(x, y, limit, rng):
    """Keeps at most `limit` random examples, in their original order."""
    if limit is None or limit >= len(y):
        return x, y
    keep = np.sort(rng.choice(len(y), size=limit, replace=False))
    return x[keep], y[keep]


def split_off(x, y, fraction, rng):
    """Moves a random `fraction` of the examples to a second split.

    Returns:
        `(x_kept, y_kept, x_split, y_split)`, both parts in original order;
        the second part is `None, None` when `fraction` is 0.
    """
    count = int(round(len(y) * fraction))
    if count == 0:
        return x, y, None, None
    if count >= len(y):
        raise ValueError(
            f"A split fraction of {fraction} leaves no examples out of "
            f"{len(y)}. Use a smaller fraction or more data."
        )
    chosen = np.zeros(len(y), dtype=bool)
    chosen[rng.choice(len(y), size=count, replace=False)] = True
    return x[~chosen], y[~chosen], x[chosen], y[chosen]


def split_examples(splits, options):
    """Applies `limit` and `validation_split` to train and test examples.

    Args:
        splits: Dict with `x_train`, `y_train`, `x_test`, `y_test` arrays
            (the features may be file paths).
        options: Dict with `validation_split`, `limit` and `seed`.

    Returns:
        Dict mapping `"train"`, `"val"` and `"test"` to `(x, y)`; `"val"`
        is `(None, None)` without a validation split.
    """
    rng = np.random.default_rng(options["seed"])
    limit = options["limit"]
    x_train, y_train = subset(splits["x_train"], splits["y_train"], limit, rng)
    x_test, y_test = subset(splits["x_test"], splits["y_test"], limit, rng)
    x_train, y_train, x_val, y_val = split_off(
        x_train, y_train, options["validation_split"], rng
    )
    return {
        "train": (x_train, y_train),
        "val": (x_val, y_val),
        "test": (x_test, y_test),
    }


def make_bundle(splits, class_names, source, scale, options, config=None):
    """Applies `limit` and `validation_split`, then builds the bundle.

    Args:
        splits: Dict with `x_train`, `y_train`, `x_test`, `y_test` arrays.
        class_names: List of class names.
        source: Text saying where the data came from, or a function of
            the examples used, `{"train": n, "val": n, "test": n}`,
            returning it.
        scale: Feature scale passed to `DatasetBundle`.
        options: Dict with `batch_size`, `validation_split`, `limit`,
            `seed` and `shuffle_buffer`.
        config: Loader config stored in the bundle. Defaults to `None`.

    Returns:
        A `DatasetBundle`.
    """
    parts = split_examples(splits, options)
    (x_train, y_train), (x_val, y_val) = parts["train"], parts["val"]
    x_test, y_test = parts["test"]
    if callable(source):
        source = source(
            {name: 0 if y is None else len(y) for name, (_, y) in parts.items()}
        )
    return DatasetBundle(
        x_train,
        y_train,
        x_test,
        y_test,
        class_names=class_names,
        source=source,
        x_val=x_val,
        y_val=y_val,
        batch_size=options["batch_size"],
        seed=options["seed"],
        shuffle_buffer=options["shuffle_buffer"],
        scale=scale,
        config=config,
    )
