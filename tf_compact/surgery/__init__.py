"""tf_compact.surgery: physically remove channels, or zero them."""

from tf_compact.surgery.apply_masks import apply_masks
from tf_compact.surgery.cost import estimate_slim_cost
from tf_compact.surgery.slim import slim
