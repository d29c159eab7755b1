"""tf_compact.cli."""
