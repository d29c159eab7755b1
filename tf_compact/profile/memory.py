"""Tensor sizes and peak activation memory of a flattened graph."""

import math
import re


def dtype_bits(dtype):
    """Bits per element of a dtype name such as "float32" or "bfloat16".

    Args:
        dtype: A dtype name or object with a `name`.

    Returns:
        The number of bits; 8 for "bool", 32 when the name has no width.
    """
    name = str(getattr(dtype, "name", dtype))
    if name == "bool":
        return 8
    match = re.search(r"\d+", name)
    return int(match.group()) if match else 32


def tensor_bytes(spec):
    """Bytes of a tensor spec; 0 when its shape is not fully known."""
    if any(d is None for d in spec.shape):
        return 0
    return math.ceil(math.prod(spec.shape) * dtype_bits(spec.dtype) / 8)


def peak_bytes(trace):
    """Largest total size of the tensors alive at once.

    The layer calls run one after another in trace order. A tensor is alive
    from the call that produces it (model inputs: from the start) to its
    last consumer (model outputs: to the end). During a call, its inputs
    and outputs are alive together.

    Args:
        trace: A `graph_walk.Trace`.

    Returns:
        The peak in bytes (0 for an empty trace).
    """
    n = len(trace.calls)
    size, first, last = {}, {}, {}
    for key, spec in zip(trace.input_keys, trace.input_specs):
        size[key], first[key], last[key] = tensor_bytes(spec), 0, 0
    for i, call in enumerate(trace.calls):
        for key in call.input_keys:
            if key in size:
                last[key] = max(last[key], i)
        for key, spec in zip(call.output_keys, call.outputs):
            size[key], first[key], last[key] = tensor_bytes(spec), i, i
    for key in trace.output_keys:
        if key in size:
            last[key] = max(n - 1, 0)
    delta = [0] * (max(n, 1) + 1)
    for key, nbytes in size.items():
        delta[first[key]] += nbytes
        delta[last[key] + 1] -= nbytes
    peak = alive = 0
    for step in range(max(n, 1)):
        alive += delta[step]
        peak = max(peak, alive)
    return peak
