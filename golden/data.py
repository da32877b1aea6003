"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package.

Images come back as uint8 arrays (N, 28, 28, 1) in NHWC order, the order the
accelerator streams; labels as int64 (N,).
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
PACKAGE = "dataset-fashion-mnist"


class DatasetMissing(FileNotFoundError):
    pass


def dataset_dir() -> Path:
    return Path(os.environ.get("FASHION_MNIST_DIR", DEFAULT_DIR))


def _read_idx(path: Path) -> np.ndarray:
    if not path.exists():
        raise DatasetMissing(
            f"Fashion-MNIST file {path} is missing: install Debian's '{PACKAGE}' package "
            f"(apt-get install {PACKAGE}) or set FASHION_MNIST_DIR")
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: truncated idx file ({data.size} of {int(np.prod(dims))} values)")
    return data.reshape(dims)


def load(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 NHWC, labels int64) of the 'train' or 'test' split."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    d = dataset_dir()
    def find(stem):
        for name in (stem + ".gz", stem):
            if (d / name).exists():
                return d / name
        return d / (stem + ".gz")
    images = _read_idx(find(f"{prefix}-images-idx3-ubyte"))
    labels = _read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    if len(images) != len(labels):
        raise ValueError(f"{d}: {len(images)} images but {len(labels)} labels in split {split!r}")
    return images[..., None].copy(), labels.astype(np.int64)
