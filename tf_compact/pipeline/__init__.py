"""tf_compact.pipeline."""
