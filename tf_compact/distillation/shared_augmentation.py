"""The student's leading augmentation, run once for teacher and student."""

import keras

from tf_compact.internal import input_augmentation
from tf_compact.internal.user_warning import warn


def split(student):
    """Finds the student's leading augmentation layers.

    Returns an `InputAugmentation` (its `model` is `None` when there are
    none). Augmentation layers further inside the student augment what
    only the student sees; a warning says so.

    Example:

    ```python
    found = split(student)
    teacher_x, student_x = augment(found, x, training=True)
    ```
    """
    found = input_augmentation.find(student)
    if found.elsewhere:
        warn(
            f"The student `{student.name}` augments its data in layers "
            f"{found.elsewhere} that do not come first after its input: in "
            "training the student sees the augmented tensors there, the "
            "teacher (in inference mode) the plain ones, and distillation "
            "compares the two. Put random augmentation right after the "
            "input (teacher and student then see the same augmented batch) "
            "or in the data pipeline.",
        )
    return found


def augment(found, x, training):
    """`(teacher_x, student_x)`: the batch through the leading augmentation
    (in training; at inference it passes data through).

    With leading augmentation the student's graph starts after it and
    takes the tensor alone; the teacher gets it in the structure of `x`
    (a one-entry dict or list stays one).
    """
    if found.model is None:
        return x, x
    inner = keras.tree.flatten(x)[0]
    if training:
        inner = found.model(inner, training=True)
    return keras.tree.pack_sequence_as(x, [inner]), inner
