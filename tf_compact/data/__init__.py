"""tf_compact.data."""
