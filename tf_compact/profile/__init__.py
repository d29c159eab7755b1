"""Per-layer and total costs of Keras models: MACs, params, activations.

`profile(model)` walks the graph Keras stored for a Functional or Sequential
model (nested models included, each call of a shared layer counted) and
reads shapes from it; nothing is executed.

Counting conventions:

- `macs` counts only multiply-accumulates of convolutions and dense-like
  products, the figure papers publish (MobileNet 569M, MobileNetV2 300M,
  ResNet50 about 4G):
  - Conv1D/2D/3D: `out_elems * prod(kernel_size) * cin / groups`.
  - Conv1D/2D/3DTranspose: `in_elems * prod(kernel_size) * filters`.
  - DepthwiseConv1D/2D: `out_elems * prod(kernel_size)`.
  - SeparableConv1D/2D: depthwise part plus the 1x1 pointwise part.
  - Dense (any rank): `prod(out_shape[:-1]) * in_features * units`.
  - EinsumDense: `out_elems * prod(contracted kernel dims)`; Dot and
    `keras.ops.matmul`: `out_elems * contracted size`.
  - SimpleRNN/GRU/LSTM: `batch * steps * gates * units * (features +
    units)` with 1/3/4 gates; Bidirectional: both directions;
    TimeDistributed: the wrapped layer on `batch * steps` samples.
- `other_ops` counts element-wise work, reported apart from `macs`: bias
  adds and fused activations (one per output element each), activation
  layers (one per element), BatchNormalization, Rescaling, Normalization
  (two: scale and shift), LayerNormalization and GroupNormalization (four),
  windowed pooling (`out_elems * prod(pool_size)`), global pooling (one per
  input element), Add/Subtract/Multiply/Maximum/Minimum (`n - 1` per
  element), Average (`n` per element), non-nearest resizing (one per
  output element). Reshaping, padding, cropping, dropout, concatenation and
  embedding lookups cost nothing. `flops` is `2 * macs + other_ops`.
- All element counts include the batch dimension, set to `batch_size`.
- Parameters are Keras's: `params == model.count_params()`; a layer called
  several times carries its weights on its first row only.
- `activation_bytes` sums every layer call's output size times its dtype
  size; `peak_activation_bytes` is the largest total of tensors alive at
  once when the calls run in the listed order.
- Element-wise `keras.ops` calls recorded in a Functional graph (add,
  multiply, relu, hard_silu, ...) follow the same rules as layers.
- A layer whose cost cannot be counted (its class has no cost function,
  its shapes are not fully known, or its cost function fails) counts 0
  MACs, is listed in `ModelProfile.unknown_layers` and is named with its
  class in one warning; add a cost function with
  `register_macs(layer_cls, fn)`.
- Attention: `MultiHeadAttention` and `GroupQueryAttention` count the
  query, key, value (and gate) projections, `QKᵀ`, the softmax-weighted
  sum of values and the output projection from the shapes of the call;
  `Attention` and `AdditiveAttention` count the two products.
- A subclassed model, or a custom layer with sublayers and no cost
  function, has no stored graph: its sublayers are costed once each, at
  the shapes they were built with (batch replaced by `batch_size`), and a
  warning says so. Operations written directly in its `call()` are not
  counted, and inside it peak memory only sees each sublayer's output.
"""

from tf_compact.profile.compare import ProfileComparison
from tf_compact.profile.compare import compare_profiles
from tf_compact.profile.layer_profile import LayerProfile
from tf_compact.profile.model_profile import ModelProfile
from tf_compact.profile.profiler import profile
from tf_compact.profile.registry import get_macs_fn
from tf_compact.profile.registry import register_macs
from tf_compact.profile.registry import unregister_macs

# `tf_compact.profile` is the function once the top-level package is
# imported; keep the registry reachable from it as well.
profile.register_macs = register_macs
profile.unregister_macs = unregister_macs
profile.get_macs_fn = get_macs_fn
