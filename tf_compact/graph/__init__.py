"""tf_compact.graph."""
