"""tf_compact.models."""
