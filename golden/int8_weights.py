"""Symmetric per-output-channel int8 weights (``docs/int8.md`` §2), torch-free:
the quantiser and the weight-sharing clusterer share this one scale rule."""
from __future__ import annotations

import numpy as np


def channel_scales(w: np.ndarray, per_tensor: bool = False) -> np.ndarray:
    """``scale_c = max|w_c| / 127`` per output channel (axis 0); an all-zero
    channel gets scale 1 (its weights stay 0).  ``per_tensor``: one scale
    for all channels, from the whole array's maximum (a logits layer, whose
    outputs are compared with each other unscaled)."""
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    if per_tensor:
        amax = np.full_like(amax, amax.max(initial=0.0))
    return np.where(amax > 0, amax / 127.0, 1.0)


def per_channel(scale: np.ndarray, ndim: int) -> np.ndarray:
    """``scale`` [Cout] shaped to broadcast against a weight of ``ndim`` axes."""
    return scale.reshape(-1, *([1] * (ndim - 1)))


def quantize_weights(w: np.ndarray, per_tensor: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(w_q in -127..127, scale per channel): ``w_q = clamp(rint(w / scale_c))``."""
    scale = channel_scales(w, per_tensor)
    wq = np.clip(np.rint(w / per_channel(scale, w.ndim)), -127, 127).astype(np.int8)
    return wq, scale
