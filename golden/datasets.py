"""Image sets for calibration, evaluation and ``compare.py``: the user's
own data as well as Fashion-MNIST.

    fashion-mnist          its test split (``golden.data``; ``train`` for calibration)
    FOLDER/                the ImageFolder layout: one sub-folder per class
                           (sorted names = class names), PNG/JPEG/BMP/... images
    IMAGES.npy             uint8 (N, H, W, C) or (N, H, W), with --labels LABELS.npy

Every image is fitted to the network's input (H, W, C) the way the host
driver does it (``golden.images.fit_image``: greyscale or grey→RGB, area
average when shrinking, nearest when growing), so the golden model, the
simulation and the board see the same pixels.  Errors are one line naming
the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden import data
from golden.images import ImageError, fit_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class DataError(ValueError):
    """Bad data: one line naming the file or folder."""


@dataclass(frozen=True)
class ImageSet:
    name: str
    images: np.ndarray                # uint8 (N, H, W, C)
    labels: np.ndarray | None         # int64 (N,)
    classes: tuple[str, ...] | None = None


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            img = img.convert("RGB" if img.mode not in ("L", "I;16", "I") else "L")
            arr = np.asarray(img)
    except (OSError, UnidentifiedImageError) as e:
        raise DataError(f"{path}: not a readable image ({type(e).__name__})") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def _folder(path: Path) -> tuple[list[np.ndarray], np.ndarray, tuple[str, ...]]:
    classes = tuple(sorted(d.name for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")))
    if not classes:
        raise DataError(f"{path}: no class sub-folders (the ImageFolder layout: {path}/CLASS/IMAGE.png)")
    images, labels = [], []
    for label, cls in enumerate(classes):
        files = sorted(f for f in (path / cls).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        images += [_read_image(f) for f in files]
        labels += [label] * len(files)
    if not images:
        raise DataError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class sub-folders")
    return images, np.asarray(labels, dtype=np.int64), classes


def _fit_all(images, shape, name: str) -> np.ndarray:
    try:
        return np.stack([fit_image(img, shape) for img in images])
    except ImageError as e:
        raise DataError(f"{name}: {e}") from None


def _npy(path: Path, labels: Path | None):
    try:
        return data.load_npy(path, labels)
    except ValueError as e:
        raise DataError(str(e)) from None


def _fit_or_keep(images, shape, name: str) -> np.ndarray:
    """``images`` (a list or an array) fitted to ``shape``, or, without one,
    as they are when they all have one size."""
    if shape is None:
        sizes = {img.shape for img in images}
        if len(sizes) != 1:
            raise DataError(f"{name}: images of {len(sizes)} different sizes; give the network's input shape "
                            "(--input-shape H,W,C)")
        return np.stack(images) if isinstance(images, list) else images
    if not isinstance(images, list) and tuple(images.shape[1:]) == tuple(shape):
        return images
    return _fit_all(images, shape, name)


def load(spec: str, shape: tuple[int, int, int] | None, labels: Path | None = None, split: str = "test",
         limit: int | None = None) -> ImageSet:
    """The images of ``spec`` fitted to ``shape`` (None: their own size,
    which must be one), the first ``limit`` only."""
    if spec == "fashion-mnist":
        if labels is not None:
            raise DataError("--labels goes with IMAGES.npy, not with fashion-mnist")
        images, lab = data.load(split)
        images, lab = images[:limit], lab[:limit]
        name = f"fashion-mnist/{split}"
        return ImageSet(name, _fit_or_keep(images, shape, name), lab, None)
    path = Path(spec)
    if path.is_dir():
        raw, lab, classes = _folder(path)
        return ImageSet(str(path), _fit_or_keep(raw[:limit], shape, str(path)), lab[:limit], classes)
    if path.suffix == ".npy":
        images, lab = _npy(path, labels)
        return ImageSet(str(path), _fit_or_keep(images[:limit], shape, str(path)),
                        None if lab is None else lab[:limit], None)
    raise DataError(f"data {spec}: not 'fashion-mnist', a folder or a .npy file")
