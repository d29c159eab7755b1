"""tf_compact.lighten."""
