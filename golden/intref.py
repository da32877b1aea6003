"""The pure-integer reference: ``docs/int8.md`` as code.

Tensors are numpy arrays in NHWC order (the order the accelerator streams).
Activations are uint8, accumulators int64 holding int32 values, class sums
int32.  No float touches a value: convolutions are integer im2col products
computed by BLAS in float64, which is exact because every partial sum is an
integer below 2**53 (checked, see ``exact_matmul``).
"""
from __future__ import annotations

import numpy as np

from golden.bundle import Bundle
from golden.layers import AddLayer, ConvLayer, FireLayer, GapLayer, InputLayer, MaxPoolLayer
from golden.shapes import output_size

EXACT_LIMIT = 2**53


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer matrix product a @ b as int64.

    float64 represents every integer below 2**53 exactly and a sum of such
    integers stays exact while no partial sum reaches 2**53, in any order of
    summation; the bound K * max|a| * max|b| covers every partial sum."""
    amax = int(np.abs(a).max(initial=0))
    bmax = int(np.abs(b).max(initial=0))
    if a.shape[-1] * amax * bmax >= EXACT_LIMIT:
        raise OverflowError("integer product too large for exact float64 accumulation")
    return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


def im2col(x: np.ndarray, k: int, stride: int, pad: int, fill=0) -> np.ndarray:
    """(N, H, W, C) → (N, OH, OW, k*k*C) patches ordered (ky, kx, c);
    padding takes ``fill`` (a number, or one per channel)."""
    n, h, w, c = x.shape
    if pad:
        padded = np.empty((n, h + 2 * pad, w + 2 * pad, c), dtype=x.dtype)
        padded[:] = np.asarray(fill, dtype=x.dtype)
        padded[:, pad:pad + h, pad:pad + w] = x
        x = padded
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    cols = [x[:, ky:ky + stride * (oh - 1) + 1:stride, kx:kx + stride * (ow - 1) + 1:stride, :]
            for ky in range(k) for kx in range(k)]
    return np.concatenate(cols, axis=3)


def conv_acc(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1, pad: int = 0,
             fill=0) -> np.ndarray:
    """int32 accumulators (as int64) of a conv: bias + sum(w * x), padding
    with ``fill`` (0, or the input layer's per-channel ``pad``).

    x uint8 (N, H, W, Cin); weight int8 (Cout, Cin, k, k); → (N, OH, OW, Cout)."""
    cout, cin, k, _ = weight.shape
    if x.shape[3] != cin:
        raise ValueError(f"conv input has {x.shape[3]} channels, weights expect {cin}")
    cols = im2col(x, k, stride, pad, fill)
    wmat = weight.transpose(2, 3, 1, 0).reshape(k * k * cin, cout)   # (ky, kx, c) rows
    acc = exact_matmul(cols, wmat) + bias.astype(np.int64)
    return acc


def requant(acc: np.ndarray, m: np.ndarray, shift: int) -> np.ndarray:
    """y = clamp((acc * M + 2**(shift-1)) >> shift, 0, 255); >> floors
    (arithmetic shift), the lower clamp is the ReLU."""
    y = (acc.astype(np.int64) * m.astype(np.int64) + (1 << (shift - 1))) >> shift
    return np.clip(y, 0, 255).astype(np.uint8)


def conv(x, weight, bias, m, shift, stride=1, pad=0):
    return requant(conv_acc(x, weight, bias, stride, pad), m, shift)


def padding_fill(bundle: Bundle, layer: ConvLayer) -> tuple[int, ...] | int:
    """What ``layer`` pads with: the input's ``pad`` if it reads the image, else 0."""
    return bundle.input.pad_values() if layer.source == bundle.input.name else 0


def conv_layer(bundle: Bundle, layer: ConvLayer, x: np.ndarray) -> np.ndarray:
    """A conv layer's output: uint8 after ReLU and requantisation, or, for
    the logits conv (``relu`` false), the int32 accumulators themselves."""
    weight, bias = bundle.array(layer.name, "weight"), bundle.array(layer.name, "bias")
    acc = conv_acc(x, weight, bias, layer.stride, layer.padding, padding_fill(bundle, layer))
    if layer.logits:
        return acc
    return requant(acc, bundle.array(layer.name, "m"), layer.shift)


def fire(x: np.ndarray, bundle: Bundle, name: str) -> dict[str, np.ndarray]:
    """A fire layer: {'squeeze': uint8, 'out': uint8 concat (e1x1 first)}."""
    layer = bundle.layer(name)
    s = conv(x, *bundle.conv(name, "squeeze"))
    outs = []
    for part in layer.parts[1:]:
        w, b, m, sh = bundle.conv(name, part)
        outs.append(conv(s, w, b, m, sh, 1, w.shape[2] // 2))
    return {"squeeze": s, "out": np.concatenate(outs, axis=3)}


def maxpool(x: np.ndarray, kernel: int = 3, stride: int = 2, ceil: bool = True) -> np.ndarray:
    """k x k / stride max pool without padding; in ceil mode, window cells
    outside the input are ignored (equivalently, padded with 0, the
    smallest uint8)."""
    n, h, w, c = x.shape
    oh, ow = output_size(h, kernel, stride, 0, ceil), output_size(w, kernel, stride, 0, ceil)
    ph, pw = stride * (oh - 1) + kernel, stride * (ow - 1) + kernel
    padded = np.zeros((n, max(ph, h), max(pw, w), c), dtype=np.uint8)
    padded[:, :h, :w] = x
    out = np.zeros((n, oh, ow, c), dtype=np.uint8)
    for ky in range(kernel):
        for kx in range(kernel):
            np.maximum(out, padded[:, ky:ky + stride * (oh - 1) + 1:stride, kx:kx + stride * (ow - 1) + 1:stride],
                       out=out)
    return out


def add(a: np.ndarray, side: np.ndarray, m_a: np.ndarray, m_b: np.ndarray, shift: int) -> np.ndarray:
    """Bypass: clamp((a*Ma + side*Mb + 2**(shift-1)) >> shift, 0, 255).

    ``side`` is the uint8 bypass input (simple) or the int32 accumulator of
    the bypass 1x1 conv (complex)."""
    y = (a.astype(np.int64) * m_a.astype(np.int64) + side.astype(np.int64) * m_b.astype(np.int64)
         + (1 << (shift - 1))) >> shift
    return np.clip(y, 0, 255).astype(np.uint8)


def gap(x: np.ndarray) -> np.ndarray:
    """Global sum pool: int32 per-class sums over H x W (the mean times H*W)
    of uint8 outputs, or of a logits conv's int32 accumulators."""
    return x.astype(np.int64).sum(axis=(1, 2)).astype(np.int32)


def argmax(sums: np.ndarray) -> np.ndarray:
    """Predicted class: the largest class sum, ties to the lowest index
    (numpy's argmax returns the first maximum)."""
    return np.argmax(sums, axis=-1)


def run(bundle: Bundle, images: np.ndarray, batch: int = 500) -> dict[str, np.ndarray]:
    """Every layer's output for uint8 images (N, H, W, C): layer name →
    array; fire layers add '<name>.squeeze'.  The last layer is the output."""
    want = bundle.input.shape
    if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != want:
        raise ValueError(f"images must be uint8 (N, {want.h}, {want.w}, {want.c}), "
                         f"got {images.dtype} {images.shape}")
    chunks = [_run_batch(bundle, images[i:i + batch]) for i in range(0, len(images), batch)]
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def _run_layer(bundle: Bundle, layer, src: list[np.ndarray], images: np.ndarray, acts: dict) -> np.ndarray:
    name = layer.name
    if isinstance(layer, InputLayer):
        return images
    if isinstance(layer, ConvLayer):
        return conv_layer(bundle, layer, src[0])
    if isinstance(layer, FireLayer):
        r = fire(src[0], bundle, name)
        acts[f"{name}.squeeze"] = r["squeeze"]
        return r["out"]
    if isinstance(layer, MaxPoolLayer):
        return maxpool(src[0], layer.kernel, layer.stride, layer.ceil)
    if isinstance(layer, AddLayer):
        side = src[1]
        if layer.bypass == "complex":
            side = conv_acc(side, bundle.array(name, "weight"), bundle.array(name, "bias"))
        return add(src[0], side, bundle.array(name, "m_a"), bundle.array(name, "m_b"), layer.shift)
    if isinstance(layer, GapLayer):
        return gap(src[0])
    raise AssertionError(layer)         # validate() refuses other kinds


def _run_batch(bundle: Bundle, images: np.ndarray) -> dict[str, np.ndarray]:
    acts: dict[str, np.ndarray] = {}
    for layer in bundle.layers:
        acts[layer.name] = _run_layer(bundle, layer, [acts[i] for i in layer.inputs], images, acts)
    return acts


def classify(bundle: Bundle, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class sums int32 (N, classes), predicted classes (N,))."""
    out = run(bundle, images)[bundle.output.name]
    return out, argmax(out)
