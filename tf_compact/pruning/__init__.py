"""tf_compact.pruning."""
