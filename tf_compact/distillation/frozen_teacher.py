"""A model mixin whose `teacher` attribute's variables never train."""


class FrozenTeacher:
    """Mixin for a `keras.Model` holding a `teacher`: its variables never train.

    Whatever the teacher's own `trainable` flags say, its variables are
    listed among the non-trainable ones, so no optimizer step updates them.
    Place it before `keras.Model` in the bases.

    Example:

    ```python
    class Distiller(FrozenTeacher, keras.Model):
        def __init__(self, teacher, student):
            super().__init__()
            self.teacher, self.student = teacher, student
    ```
    """

    def _teacher_ids(self):
        return {id(v) for v in self.teacher.variables}

    def _split(self, variables, want_trainable):
        ids = self._teacher_ids()
        out = []
        for v in variables:
            trainable = v.trainable and id(v) not in ids
            if trainable == want_trainable:
                out.append(v)
        return out

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return self._split(self.weights, True)

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return self._split(self.weights, False)

    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        if not self.trainable:
            return self.variables
        return self._split(self.variables, False)
