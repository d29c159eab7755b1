"""What verification makes of the differences between a converted file
and its Keras model: a bound for float32, a warning for quantized files
that disagree."""

import numpy as np

from tf_compact.internal.user_warning import warn
from tf_compact.lite.errors import ConversionError

#: float32 outputs must match Keras within this times `max(1, max |y|)`.
FLOAT_TOLERANCE = 1e-3


def flag_disagreement(result, model):
    """Adds a note to `result`, and warns, that the quantized file's top-1
    predictions agree with `model` below `LOW_AGREEMENT`.

    Example:

    ```python
    flag_disagreement(int8_result, model)
    ```
    """
    text = (
        f"the {result.mode} file's top-1 predictions agree with model "
        f"{model.name!r} on only {100 * result.argmax_agreement:.0f}% of "
        f"the verification batch (max |difference| "
        f"{result.max_abs_diff:.3g}): measure its accuracy before shipping "
        "it (tfc.lite.benchmark(..., dataset=...))"
    )
    result.notes.append(text)
    warn(text[:1].upper() + text[1:] + ".")


#: Top-1 agreement of a quantized file with its Keras model below which
#: `convert` warns (and says so in the notes).
LOW_AGREEMENT = 0.8


def check_float32(result, model, expected, diffs):
    """Raises `ConversionError` when a float32 output differs from Keras by
    more than `FLOAT_TOLERANCE` times its scale.

    Example:

    ```python
    check_float32(result, model, {"out": ref}, {"out": 1e-6})
    ```
    """
    # Relative to the output scale: untrained nets can have logits in the
    # thousands, where float rounding alone exceeds any absolute bound.
    for name, diff in diffs.items():
        scale = float(np.max(np.abs(expected[name]), initial=0.0))
        bound = FLOAT_TOLERANCE * max(1.0, scale)
        if diff > bound:
            raise ConversionError(
                f"float32 TFLite output {name!r} of model {model.name!r} "
                f"differs from Keras by {diff:.3g} (> {bound:.3g}, that is "
                f"{FLOAT_TOLERANCE} x the output scale), "
                f"path={result.path_used!r}."
            )
