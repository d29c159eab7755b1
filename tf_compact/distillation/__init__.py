"""tf_compact.distillation."""
