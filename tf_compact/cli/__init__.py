"""Command-line entry points (`tf-compact ...`) built on absl flags.

`import tf_compact` does not import this package: its modules define absl
flags when imported, and the library itself defines none.
"""
