"""tf_compact: make Keras 3 CNNs small and fast for the edge.

Distill a teacher into a student, sparsify coupled channel groups under
feedback control, physically slim the model, and ship it as TFLite.

Example:

```python
import tf_compact as tfc

report = tfc.profile(model)
print(report.table())
```
"""

from tf_compact.version import __version__

# Areas register their public names below, one import per line.
# profile
from tf_compact.profile.compare import compare_profiles
from tf_compact.profile.layer_profile import LayerProfile
from tf_compact.profile.model_profile import ModelProfile
from tf_compact.profile.profiler import profile
# graph, surgery, pruning
# distillation
from tf_compact.distillation.attention_transfer import AttentionTransfer
from tf_compact.distillation.contrastive_kd import ContrastiveKD
from tf_compact.distillation.distiller import Distiller
from tf_compact.distillation.feature_kd import FeatureKD
from tf_compact.distillation.logits_kd import LogitsKD
# sparsity
from tf_compact.sparsity.bn_gamma import BNGammaL1
from tf_compact.sparsity.group_lasso import GroupLasso
from tf_compact.sparsity.sparsifier import Sparsifier
# pipeline
from tf_compact.pipeline import CompressResult
from tf_compact.pipeline import compress
# submodules reached as attributes (tfc.data, tfc.lite, ...)
from tf_compact import lighten
