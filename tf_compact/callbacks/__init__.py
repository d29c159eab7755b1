"""tf_compact.callbacks."""
