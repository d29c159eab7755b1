"""Trainable adapters that map student features onto teacher features.

After slimming, a student layer has fewer channels (and sometimes another
spatial size) than the teacher layer it learns from. An adapter bridges the
gap: a 1x1 convolution (or a dense layer for vectors) to the teacher's
width, then a bilinear resize to the teacher's height and width. Adapters
are owned and trained by the Distiller and are not part of the student.
"""

import keras
from keras import ops


def _mismatch(message, teacher_shape, student_shape):
    return ValueError(
        f"{message} Received: teacher feature shape={teacher_shape}, "
        f"student feature shape={student_shape}"
    )


def check_compatible(teacher_shape, student_shape, allow_spatial=True):
    """Checks that a student feature can be adapted to a teacher feature.

    Args:
        teacher_shape: Teacher feature shape, batch axis included.
        student_shape: Student feature shape, batch axis included.
        allow_spatial: Whether height/width may differ (resized).
            Defaults to `True`.

    Raises:
        ValueError: If the ranks differ, a sequence length differs, or the
            spatial size differs while `allow_spatial` is False.
    """
    if len(teacher_shape) != len(student_shape) or len(teacher_shape) < 2:
        raise _mismatch(
            "Teacher and student features must have the same rank (2 for "
            "vectors, 4 for NHWC feature maps).",
            teacher_shape,
            student_shape,
        )
    inner_t, inner_s = teacher_shape[1:-1], student_shape[1:-1]
    if len(teacher_shape) == 4 and allow_spatial:
        if None in inner_t or None in inner_s:
            raise _mismatch(
                "Feature maps need a known height and width.",
                teacher_shape,
                student_shape,
            )
        return
    if tuple(inner_t) != tuple(inner_s):
        raise _mismatch(
            "Teacher and student features differ in a non-channel axis that "
            "cannot be adapted.",
            teacher_shape,
            student_shape,
        )


class HintAdapter(keras.layers.Layer):
    """Maps one student feature to the shape of one teacher feature.

    Args:
        teacher_shape: Teacher feature shape, batch axis included.
        student_shape: Student feature shape, batch axis included.
        project: Whether to add the channel projection even when widths
            match. Defaults to `False`.
        **kwargs: Base `Layer` arguments such as `name`.
    """

    def __init__(self, teacher_shape, student_shape, project=False, **kwargs):
        super().__init__(**kwargs)
        check_compatible(teacher_shape, student_shape)
        self.teacher_shape = tuple(teacher_shape)
        self.student_shape = tuple(student_shape)
        width = teacher_shape[-1]
        self.proj = None
        if project or width != student_shape[-1]:
            if len(teacher_shape) == 4:
                self.proj = keras.layers.Conv2D(width, 1, name="conv1x1")
            else:
                self.proj = keras.layers.Dense(width, name="dense")
        self.resize_to = None
        if len(teacher_shape) == 4:
            size = tuple(teacher_shape[1:3])
            if size != tuple(student_shape[1:3]):
                self.resize_to = size

    def build(self, input_shape):
        if self.proj is not None:
            self.proj.build(input_shape)
        self.built = True

    def call(self, x):
        if self.proj is not None:
            x = self.proj(x)
        if self.resize_to is not None:
            x = ops.image.resize(x, self.resize_to, interpolation="bilinear")
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.teacher_shape[1:]


class AdapterSet(keras.layers.Layer):
    """One `HintAdapter` per feature pair, owned by a Distiller.

    Args:
        teacher_shapes: Teacher feature shapes, pair by pair.
        student_shapes: Student feature shapes, pair by pair.
        project: Whether to add channel projections even when widths match.
            Defaults to `False`.
        **kwargs: Base `Layer` arguments such as `name`.
    """

    def __init__(self, teacher_shapes, student_shapes, project=False, **kw):
        super().__init__(**kw)
        self.adapters = [
            HintAdapter(t, s, project=project, name=f"hint_{i}")
            for i, (t, s) in enumerate(zip(teacher_shapes, student_shapes))
        ]
        for adapter, shape in zip(self.adapters, student_shapes):
            adapter.build(shape)
        self.built = True

    def call(self, student_features):
        return [a(f) for a, f in zip(self.adapters, student_features)]
