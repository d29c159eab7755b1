"""tf_compact.lite."""
