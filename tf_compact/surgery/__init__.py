"""tf_compact.surgery."""
