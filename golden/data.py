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
TRAIN_IMAGES = 60000        # the training split's size (what counts of training images are checked against)


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


def load_npy(images_path: Path, labels_path: Path | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A user's image set: uint8 NHWC images (an (N, H, W) array is taken as
    one channel) and, if given, integer labels (N,), from ``.npy`` files.
    Raises ValueError naming the file and what is wrong, in one line."""
    images = _load_array(images_path, "images")
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"{images_path}: images must be uint8 (N, H, W, C) or (N, H, W), "
                         f"got {images.dtype.name}{list(images.shape)}")
    stored = list(images.shape)
    if images.ndim == 3:
        images = images[..., None]
    if min(images.shape[1:3]) < 1 or not 1 <= images.shape[3] <= 4:
        raise ValueError(f"{images_path}: images must be at least 1x1 with 1 to 4 channels, "
                         f"got {images.dtype.name}{stored}")
    if labels_path is None:
        return images, None
    labels = _load_array(labels_path, "labels")
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(images):
        raise ValueError(f"{labels_path}: labels must be integers of shape ({len(images)},) like the images, "
                         f"got {labels.dtype.name}{list(labels.shape)}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{labels_path}: labels must be >= 0, found {int(labels.min())}")
    return images, labels.astype(np.int64)


def _load_array(path: Path, what: str) -> np.ndarray:
    if not Path(path).is_file():
        raise ValueError(f"{what} file {path} not found")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:          # numpy raises several kinds for a bad file
        raise ValueError(f"{path}: not a readable .npy file of {what} ({type(e).__name__})") from None
