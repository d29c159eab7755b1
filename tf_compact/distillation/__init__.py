"""Knowledge distillation: a Distiller model and its loss families."""

from tf_compact.distillation.attention_transfer import AttentionTransfer
from tf_compact.distillation.contrastive_kd import ContrastiveKD
from tf_compact.distillation.distiller import Distiller
from tf_compact.distillation.feature_kd import FeatureKD
from tf_compact.distillation.kd_loss import KDLoss
from tf_compact.distillation.logits_kd import LogitsKD
