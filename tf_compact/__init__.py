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

# Submodules reached as attributes: tfc.lite.convert, tfc.data.builtin, ...
from tf_compact import callbacks
from tf_compact import data
from tf_compact import graph
from tf_compact import lighten
from tf_compact import lite
from tf_compact import models
from tf_compact import pruning

# Public names, one import per line.
from tf_compact.distillation.attention_transfer import AttentionTransfer
from tf_compact.distillation.contrastive_kd import ContrastiveKD
from tf_compact.distillation.distiller import Distiller
from tf_compact.distillation.feature_kd import FeatureKD
from tf_compact.distillation.logits_kd import LogitsKD
from tf_compact.graph.channel_graph import ChannelGraph
from tf_compact.graph.channel_group import ChannelGroup
from tf_compact.graph.errors import GraphError
from tf_compact.graph.errors import MaskError
from tf_compact.graph.errors import UnsupportedLayerError
from tf_compact.graph.registry import register_handler
from tf_compact.pipeline import CompressResult
from tf_compact.pipeline import compress
from tf_compact.profile.compare import compare_profiles
from tf_compact.profile.layer_profile import LayerProfile
from tf_compact.profile.model_profile import ModelProfile
from tf_compact.profile.profiler import profile
from tf_compact.pruning.importance import group_importance
from tf_compact.pruning.prune import prune
from tf_compact.sparsity.bn_gamma import BNGammaL1
from tf_compact.sparsity.group_lasso import GroupLasso
from tf_compact.sparsity.iterative import iterative_prune
from tf_compact.sparsity.report import SparsityReport
from tf_compact.sparsity.report import sparsity_report
from tf_compact.sparsity.sparsifier import Sparsifier
from tf_compact.surgery.apply_masks import apply_masks
from tf_compact.surgery.cost import estimate_slim_cost
from tf_compact.surgery.slim import slim
from tf_compact.version import __version__
