"""tf_compact.profile."""
