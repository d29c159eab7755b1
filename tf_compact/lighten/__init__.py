"""Lighten transforms: cheaper versions of a teacher's own structure.

`gap_head` replaces Flatten→Dense heads by global average pooling,
`separable` replaces k×k convolutions by depthwise-separable ones, and
`width` builds the teacher at a fraction of its channel widths. Each returns
a new model and leaves the input model untouched.

Example:

```python
teacher = tfc.models.vgg(input_shape=(28, 28, 1))
student = tfc.lighten.width(tfc.lighten.gap_head(teacher), 0.5)
print(teacher.count_params(), "->", student.count_params())
```
"""

from tf_compact.lighten.gap_head import gap_head
from tf_compact.lighten.separable import separable
from tf_compact.lighten.width import width

__all__ = [
    "gap_head",
    "separable",
    "width",
]
