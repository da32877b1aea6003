"""Checking the per-channel requantisation constants of one convolution."""
from __future__ import annotations

import numbers

import numpy as np

from golden.bundle import SHIFT_RANGE

__all__ = ["requant_params", "check_shift"]


def check_shift(shift) -> int:
    """The requantisation shift as an int, or ValueError naming it."""
    if isinstance(shift, bool) or not isinstance(shift, numbers.Integral) \
            or not SHIFT_RANGE[0] <= int(shift) <= SHIFT_RANGE[1]:
        raise ValueError(f"shift must be an integer in {SHIFT_RANGE[0]}..{SHIFT_RANGE[1]}, got {shift!r}")
    return int(shift)


def requant_params(bias, m, shift, cout: int):
    """(bias int64 (cout,), m int64 (cout,), shift) after range checks;
    ValueError names the offending parameter."""
    bias = np.asarray(bias).astype(np.int64)
    m = np.asarray(m).astype(np.int64)
    if bias.shape != (cout,):
        raise ValueError(f"bias must have shape ({cout},), got {bias.shape}")
    if m.shape != (cout,):
        raise ValueError(f"m must have shape ({cout},), got {m.shape}")
    if int(bias.min()) < -2**31 or int(bias.max()) >= 2**31:
        raise ValueError("bias values must fit int32")
    if int(m.min()) < 0 or int(m.max()) >= 2**16:
        raise ValueError("m values must fit uint16")
    return bias, m, check_shift(shift)
