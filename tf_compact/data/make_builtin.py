"""Builds the built-in Fashion-MNIST subset shipped inside the package.

Reads the full Fashion-MNIST IDX files (by default those of the Debian
package `dataset-fashion-mnist` in `/usr/share/datasets/fashion-mnist/`),
draws a class-balanced random subset and writes it as a compressed `.npz`
with arrays `x_train`, `y_train`, `x_test`, `y_test` (uint8 / int32) and
`class_names`.

Usage:

```
python -m tf_compact.data.make_builtin [SOURCE_DIR] [OUTPUT.npz]
```
"""

import os
import sys

import numpy as np

from tf_compact.data import readers
from tf_compact.data.loaders import DEBIAN_FASHION_MNIST_DIR
from tf_compact.data.loaders import FASHION_MNIST_CLASSES
from tf_compact.data.small import BUILTIN_FILE

TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
SEED = 2017


def balanced_indices(labels, per_class, rng):
    """Returns sorted indices holding `per_class` random examples per class.

    Args:
        labels: 1-D integer labels.
        per_class: Examples to draw from every class.
        rng: A `numpy.random.Generator`.

    Returns:
        A sorted int64 index array of length `per_class * num_classes`.

    Raises:
        ValueError: If a class has fewer than `per_class` examples.
    """
    chosen = []
    for label in np.unique(labels):
        pool = np.flatnonzero(labels == label)
        if len(pool) < per_class:
            raise ValueError(
                f"Class {label} has {len(pool)} examples, fewer than "
                f"per_class={per_class}."
            )
        chosen.append(rng.choice(pool, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def build_subset(source_dir, train_per_class, test_per_class, seed=SEED):
    """Returns the subset arrays drawn from the IDX files in `source_dir`."""
    splits, _ = readers.load_idx_directory(source_dir)
    rng = np.random.default_rng(seed)
    train = balanced_indices(splits["y_train"], train_per_class, rng)
    test = balanced_indices(splits["y_test"], test_per_class, rng)
    return {
        "x_train": splits["x_train"][train],
        "y_train": splits["y_train"][train].astype(np.int32),
        "x_test": splits["x_test"][test],
        "y_test": splits["y_test"][test].astype(np.int32),
        "class_names": np.asarray(FASHION_MNIST_CLASSES),
    }


def default_output():
    """Returns the path of the subset file inside the source tree."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "builtin", BUILTIN_FILE)


def main(argv=None):
    """Writes the subset; `argv` is `[source_dir, output_path]`, optional.

    Returns:
        The process exit status, 0 on success.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    source_dir = argv[0] if argv else DEBIAN_FASHION_MNIST_DIR
    output = argv[1] if len(argv) > 1 else default_output()
    arrays = build_subset(source_dir, TRAIN_PER_CLASS, TEST_PER_CLASS)
    np.savez_compressed(output, **arrays)
    size_mb = os.path.getsize(output) / 1e6
    print(
        f"Wrote {output}: {len(arrays['y_train'])} train and "
        f"{len(arrays['y_test'])} test images from {source_dir} "
        f"({size_mb:.2f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
