"""Activation maxima of a folded float graph, the same bits on every machine.

The quantiser derives every integer constant (multipliers, shifts, biases)
from activation scales ``s = max(activation) / 255``.  A BLAS or oneDNN
convolution sums its products in an order that depends on the CPU, the
library build and the thread count, so its last bit differs between
machines (seen: ``MKL_CBWR=COMPATIBLE`` changes three scales of the
reference network), and one ulp can flip a ``rint``.

Here every convolution is a fixed sequence of IEEE-754 float64 operations:
numpy elementwise products and sums (each correctly rounded, whatever the
SIMD width), one product term at a time in the order (input channel,
kernel row, kernel column), then the bias, then the ReLU.  Max pooling and
maxima are exact.  So the maxima are a pure function of the graph and the
images on any IEEE-754 machine; ``docs/int8.md`` §6 states the rule.

It is also independent of the batch: the images are processed in batches
only to bound memory, and a maximum does not depend on how it is split.
"""
from __future__ import annotations

import numpy as np

from golden.graph import FloatOps, walk
from golden.shapes import output_size

BATCH = 250


def conv_fixed_order(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1,
                     padding: int = 0, fill: np.ndarray | None = None) -> np.ndarray:
    """``conv2d(x, weight) + bias`` (NCHW float64) summed term by term in
    the order (ci, ky, kx), starting from 0, the bias added last; padding
    with ``fill[c]`` per input channel (default 0)."""
    n, cin, h, w = x.shape
    cout, _, k, _ = weight.shape
    if padding:
        padded = np.zeros((n, cin, h + 2 * padding, w + 2 * padding))
        if fill is not None:
            padded[:] = np.asarray(fill, dtype=np.float64).reshape(1, cin, 1, 1)
        padded[:, :, padding:padding + h, padding:padding + w] = x
        x = padded
    oh = (h + 2 * padding - k) // stride + 1
    ow = (w + 2 * padding - k) // stride + 1
    acc = np.zeros((n, cout, oh, ow))
    for ci in range(cin):
        for ky in range(k):
            for kx in range(k):
                window = x[:, ci, ky:ky + stride * (oh - 1) + 1:stride, kx:kx + stride * (ow - 1) + 1:stride]
                acc += weight[:, ci, ky, kx][None, :, None, None] * window[:, None]
    acc += bias[None, :, None, None]
    return acc


def maxpool(x: np.ndarray, kernel: int, stride: int, ceil: bool) -> np.ndarray:
    """Max pool without padding (ceil mode: windows clipped at the border)."""
    n, c, h, w = x.shape
    oh, ow = output_size(h, kernel, stride, 0, ceil), output_size(w, kernel, stride, 0, ceil)
    out = np.full((n, c, oh, ow), -np.inf)
    for ky in range(kernel):
        for kx in range(kernel):
            rows = min(oh, (h - ky + stride - 1) // stride)
            cols = min(ow, (w - kx + stride - 1) // stride)
            tap = x[:, :, ky:ky + stride * (rows - 1) + 1:stride, kx:kx + stride * (cols - 1) + 1:stride]
            np.maximum(out[:, :, :rows, :cols], tap, out=out[:, :, :rows, :cols])
    return out


NUMPY_OPS = FloatOps(
    conv=lambda x, p: conv_fixed_order(x, p["weight"], p["bias"], p.get("stride", 1), p.get("padding", 0),
                                       p.get("fill")),
    relu=lambda x: np.maximum(x, 0.0), maxpool=maxpool, cat=lambda xs: np.concatenate(xs, axis=1), gap=None,
    minimum=np.minimum)


def forward(graph: list[dict], x: np.ndarray) -> dict[str, np.ndarray]:
    """Every activation (NCHW float64) of the folded float graph on ``x``,
    computed in the fixed order above; gap layers are skipped."""
    return walk(graph, x, NUMPY_OPS)


def activation_maxima(graph: list[dict], images_u8: np.ndarray, input_scale: float) -> dict[str, float]:
    """The largest value of every activation (including ``<fire>.squeeze``)
    over uint8 NHWC ``images_u8``; the float model sees ``images * input_scale``."""
    top: dict[str, float] = {}
    for start in range(0, len(images_u8), BATCH):
        x = images_u8[start:start + BATCH].transpose(0, 3, 1, 2).astype(np.float64) * input_scale
        for name, act in forward(graph, x).items():
            value = float(act.max()) if act.size else 0.0
            top[name] = max(top.get(name, value), value)
    return top


def seeded_choice(images: np.ndarray, count: int) -> np.ndarray:
    """The calibration images: the first ``count`` of a seeded permutation
    of ``images``, in their original order (the same on every machine)."""
    return images[seeded_indices(len(images), count)]


def seeded_indices(n: int, count: int) -> np.ndarray:
    """Which ``count`` of ``n`` images ``seeded_choice`` takes (sorted)."""
    return np.sort(np.random.default_rng(0).permutation(n)[:count])
