"""Images in and out of the network's input shape, torch-free: a small PNG
reader (``zlib`` + numpy: 8/16-bit grey, grey+alpha, RGB, RGBA and 8-bit
palette, non-interlaced), ``.npy`` images, and ``fit_image``, which
greyscales (or expands grey to RGB), drops alpha and resizes (area average
when shrinking, nearest when growing).  The host driver (``fpga.run``) and
the data-set loader (``golden.datasets``) share it, so an image reaches the
board and the golden model the same way.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["ImageError", "read_png", "load_image", "fit_image"]


class ImageError(Exception):
    pass


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> np.ndarray:
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    pos = 0
    for y in range(height):
        ftype = raw[pos]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=pos + 1).astype(np.int32)
        pos += stride + 1
        if ftype == 0:
            cur = line
        elif ftype == 2:
            cur = (line + prev) & 0xFF
        elif ftype in (1, 3, 4):
            # These depend on the already-decoded left neighbour: go byte by byte.
            cur = line.copy()
            for x in range(stride):
                a = int(cur[x - bpp]) if x >= bpp else 0
                b = int(prev[x])
                c = int(prev[x - bpp]) if x >= bpp else 0
                if ftype == 1:
                    pred = a
                elif ftype == 3:
                    pred = (a + b) >> 1
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (cur[x] + pred) & 0xFF
        else:
            raise ImageError(f"bad PNG filter type {ftype}")
        out[y] = cur
        prev = cur
    return out


def read_png(data: bytes) -> np.ndarray:
    """Decode a PNG into uint8 HxWxC (C = 1, 2, 3 or 4)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ImageError("not a PNG file")
    pos, idat, palette, header = 8, [], None, None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ImageError("PNG has no IHDR")
    width, height, depth, ctype, _, _, interlace = header
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(ctype)
    if channels is None or interlace or depth not in (8, 16) or (ctype == 3 and depth != 8):
        raise ImageError(f"unsupported PNG (colour type {ctype}, depth {depth}, interlace {interlace}); "
                         "use 8-bit non-interlaced or a .npy")
    nbytes = depth // 8
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise ImageError(f"corrupt PNG data ({e})") from None
    stride = width * channels * nbytes
    if len(raw) < height * (stride + 1):
        raise ImageError("truncated PNG data")
    img = _unfilter(raw, height, stride, channels * nbytes).reshape(height, width, channels * nbytes)
    if nbytes == 2:
        img = img[:, :, 0::2]          # keep the most significant byte
    if ctype == 3:
        if palette is None:
            raise ImageError("palette PNG without PLTE")
        img = palette[img[:, :, 0]]
    return img


def load_image(path: Path) -> np.ndarray:
    """A uint8 HxWxC array from a PNG or .npy file (HxW means one channel)."""
    try:
        if path.suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False)
            if arr.ndim == 2:
                arr = arr[:, :, None]
            if arr.ndim != 3 or arr.dtype.kind not in "uif":
                raise ImageError(f"expected an HxW or HxWxC numeric array, got {arr.dtype} {arr.shape}")
            if arr.dtype.kind == "f" and arr.max() <= 1.0:
                arr = arr * 255.0
            return np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return read_png(path.read_bytes())
    except OSError as e:
        raise ImageError(e.strerror or str(e)) from None
    except ValueError as e:
        raise ImageError(str(e)) from None


def fit_image(img: np.ndarray, shape) -> np.ndarray:
    """Greyscale (or expand grey to RGB), drop alpha, resize to (H, W, C)."""
    h, w, c = shape
    if img.shape[2] in (2, 4):
        img = img[:, :, :-1]                      # alpha
    if c == 1 and img.shape[2] == 3:
        img = np.rint(img.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))[:, :, None]
    elif c == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] != c:
        raise ImageError(f"cannot turn a {img.shape[2]}-channel image into {c} channels")
    img = img.astype(np.float64)
    sh, sw = img.shape[:2]
    if min(sh, sw) < 1:
        raise ImageError(f"the image is {sh}x{sw}: it has no pixels")
    # Each output pixel is the mean of its source box, from a summed-area
    # table: the pixels are integers, so every sum is exact in float64 and
    # sum / count is bit for bit numpy's mean over the box, for a whole
    # image at once rather than a Python loop per pixel.
    (y0, y1), (x0, x1) = (np.array(_bins(sh, h)).T[:, :, None], np.array(_bins(sw, w)).T[:, None, :])
    table = np.zeros((sh + 1, sw + 1, img.shape[2]))
    table[1:, 1:] = img.cumsum(axis=0).cumsum(axis=1)
    total = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    out = total / ((y1 - y0) * (x1 - x0))[:, :, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _bins(src: int, dst: int):
    """Source ranges per output index: area bins when shrinking, nearest when growing."""
    if src >= dst:
        edges = [round(k * src / dst) for k in range(dst + 1)]
        return [(edges[k], max(edges[k + 1], edges[k] + 1)) for k in range(dst)]
    near = [min(src - 1, int((k + 0.5) * src / dst)) for k in range(dst)]
    return [(n, n + 1) for n in near]
