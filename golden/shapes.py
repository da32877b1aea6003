"""Shape rules of the family's layers, torch-free: the bundle validator,
the quantiser and the hardware generators all take sizes from here."""
from __future__ import annotations

import math


def output_size(size: int, kernel: int, stride: int, padding: int, ceil: bool = False) -> int:
    """Spatial output size of a conv/pool, with PyTorch's ceil-mode rule
    (the last window must start inside the input or its left padding)."""
    span = size + 2 * padding - kernel
    if span < 0:
        raise ValueError(f"kernel {kernel} larger than padded input {size + 2 * padding}")
    out = (math.ceil(span / stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= size + padding:
        out -= 1
    return out
