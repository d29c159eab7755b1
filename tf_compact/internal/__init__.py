"""Helpers shared by every subpackage; imports nothing else of tf_compact."""
