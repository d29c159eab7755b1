"""tf_compact.data: offline-capable dataset loaders returning `tf.data`.

Each loader returns a `DatasetBundle`: batched `tf.data` pipelines
(`train`, `val`, `test`) over arrays it keeps, with the class names and
where the data came from. `load` picks a loader by name; `from_arrays` and
`from_folder` wrap your own data the same way.

Example:

```python
bundle = tfc.data.load("builtin", validation_split=0.1, batch_size=64)
print(bundle.source, bundle.num_classes)
model.fit(bundle.train, validation_data=bundle.val, epochs=2)
```
"""

from tf_compact.data.arrays import from_arrays
from tf_compact.data.bundle import DatasetBundle
from tf_compact.data.cifar import cifar10
from tf_compact.data.cifar import cifar100
from tf_compact.data.errors import DatasetNotFoundError
from tf_compact.data.folder import from_folder
from tf_compact.data.loaders import fashion_mnist
from tf_compact.data.loaders import mnist
from tf_compact.data.registry import load
from tf_compact.data.small import builtin
from tf_compact.data.small import digits

__all__ = [
    "DatasetBundle",
    "DatasetNotFoundError",
    "builtin",
    "cifar10",
    "cifar100",
    "digits",
    "fashion_mnist",
    "from_arrays",
    "from_folder",
    "load",
    "mnist",
]
