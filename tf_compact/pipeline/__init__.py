"""The compress pipeline: teacher → student → sparse KD → slim → TFLite.

`compress` runs every stage and returns a `CompressResult`; the stages are
plain functions in `stages` and `sparse_stages`, usable alone.
"""

from tf_compact.pipeline.compress import compress
from tf_compact.pipeline.compress import default_stages
from tf_compact.pipeline.result import CompressResult
from tf_compact.pipeline.stages import Stage
from tf_compact.pipeline.stages import layer_widths
