"""The compress pipeline: teacher → student → method → slim → TFLite.

`compress` runs every stage and returns a `CompressResult`; the stages are
plain functions in `stages`, `pruning_stages` and `sparse_training`, their
order per method in `plan`, usable alone.
"""

from tf_compact.pipeline.compress import compress
from tf_compact.pipeline.plan import default_stages
from tf_compact.pipeline.result import CompressResult
from tf_compact.pipeline.stages import Stage
from tf_compact.pipeline.stages import layer_widths
