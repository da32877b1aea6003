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
from golden.bad_input import BadInput
from golden.calibration import seeded_indices
from golden.images import ImageError, fit_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class DataError(BadInput):
    """Bad data: one line naming the file or folder."""


@dataclass(frozen=True)
class ImageSet:
    name: str
    images: np.ndarray                # uint8 (N, H, W, C)
    labels: np.ndarray | None         # int64 (N,)
    classes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RawSet:
    """Images as read, not yet fitted to the network (sizes may differ):
    reading is quick, the resize is the long step, done last
    (``fitted``) on the images actually used (``chosen``)."""
    name: str
    images: list[np.ndarray] | np.ndarray      # uint8 (H, W, C) each
    labels: np.ndarray | None
    classes: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def own_shape(self) -> tuple[int, int, int]:
        """The images' one (H, W, C); DataError when they have several."""
        sizes = {tuple(img.shape) for img in self.images}
        if len(sizes) != 1:
            raise DataError(f"{self.name}: images of {len(sizes)} different sizes; give the network's input shape "
                            "(--input-shape H,W,C)")
        return sizes.pop()

    def chosen(self, count: int) -> "RawSet":
        """The calibration images (``golden.calibration.seeded_indices``)."""
        return self.subset(seeded_indices(len(self), count))

    def subset(self, idx: np.ndarray, name: str | None = None) -> "RawSet":
        """The images at ``idx`` (in that order), with their labels."""
        images = self.images[idx] if isinstance(self.images, np.ndarray) else [self.images[i] for i in idx]
        return RawSet(name or self.name, images, None if self.labels is None else self.labels[idx], self.classes)

    def fitted(self, shape: tuple[int, int, int] | None) -> ImageSet:
        """Every image fitted to ``shape`` (None: kept at their one size)."""
        if shape is None:
            shape = self.own_shape()
        if isinstance(self.images, np.ndarray) and tuple(self.images.shape[1:]) == tuple(shape):
            images = self.images
        else:
            images = _fit_all(self.images, shape, self.name)
        return ImageSet(self.name, images, self.labels, self.classes)


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            img = img.convert("RGB" if img.mode not in ("L", "I;16", "I") else "L")
            arr = np.asarray(img)
    except (OSError, UnidentifiedImageError, ValueError) as e:
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


def read(spec: str, labels: Path | None = None, split: str = "test", limit: int | None = None) -> RawSet:
    """The images of ``spec`` as they are (the first ``limit`` only);
    DataError when there are none."""
    if spec == "fashion-mnist":
        if labels is not None:
            raise DataError("--labels goes with IMAGES.npy, not with fashion-mnist")
        images, lab = data.load(split)
        raw = RawSet(f"fashion-mnist/{split}", images[:limit], lab[:limit], None)
    elif Path(spec).is_dir():
        images, lab, classes = _folder(Path(spec))
        raw = RawSet(str(spec), images[:limit], lab[:limit], classes)
    elif Path(spec).suffix == ".npy":
        images, lab = _npy(Path(spec), labels)
        raw = RawSet(str(spec), images[:limit], None if lab is None else lab[:limit], None)
    else:
        raise DataError(f"data {spec}: not 'fashion-mnist', a folder or a .npy file")
    if not len(raw):
        raise DataError(f"{raw.name}: no images")
    return raw


def load(spec: str, shape: tuple[int, int, int] | None, labels: Path | None = None, split: str = "test",
         limit: int | None = None) -> ImageSet:
    """The images of ``spec`` fitted to ``shape`` (None: their own size,
    which must be one), the first ``limit`` only."""
    return read(spec, labels, split, limit).fitted(shape)
