"""tf_compact.sparsity."""
