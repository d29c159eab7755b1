"""Data for model inputs that take raw integers (uint8 pixels, token ids)."""

import numpy as np


def as_integer_input(x, dtype, name=None):
    """`x` as the integer `dtype` of a model input that takes raw values.

    Float data are rounded, which must lose nothing: float data with
    fractions (such as pixels scaled to [0, 1] for a model that takes
    uint8 pixels and rescales them itself) would all round to 0 or 1.

    Raises:
        ValueError: If `x` holds floats with fractional parts.

    Example:

    ```python
    as_integer_input(np.array([0.0, 255.0]), "uint8")  # [0, 255], uint8
    ```
    """
    x = np.asarray(x)
    if x.dtype.kind == "f":
        rounded = np.rint(x)
        if not np.allclose(rounded, x, rtol=0.0, atol=1e-3):
            which = "The model input" if name is None else f"Input {name!r}"
            low, high = float(np.min(x)), float(np.max(x))
            raise ValueError(
                f"{which} takes {np.dtype(dtype).name} values, but the data "
                f"are floats with fractions (from {low:.4g} to {high:.4g}); "
                "cast to the input they would round to whole numbers. Pass "
                "the values the model takes: for pixels scaled to [0, 1], "
                "multiply by 255, or read a tf_compact bundle with "
                "`arrays(normalized=False)`."
            )
        x = rounded
    return x.astype(dtype)
