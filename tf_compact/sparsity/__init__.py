"""tf_compact.sparsity: group-sparsity penalties and teacher-less training."""

from tf_compact.sparsity.bn_gamma import BNGammaL1
from tf_compact.sparsity.group_lasso import GroupLasso
from tf_compact.sparsity.group_plan import GroupPlan
from tf_compact.sparsity.iterative import iterative_prune
from tf_compact.sparsity.report import SparsityReport
from tf_compact.sparsity.report import sparsity_report
from tf_compact.sparsity.sparsifier import Sparsifier
