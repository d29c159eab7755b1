"""tf_compact.callbacks: Keras callbacks that steer sparsity and pruning."""

from tf_compact.callbacks.budget_controller import BudgetController
from tf_compact.callbacks.iterative_pruning import IterativePruning
from tf_compact.callbacks.penalty_controller import PenaltyController
from tf_compact.callbacks.proximal_step import ProximalStep
from tf_compact.callbacks.sparsity_controller import SparsityController
