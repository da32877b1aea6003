"""golden.images.fit_image is its definition, bit for bit: each output
pixel the rounded mean of its source box (``_bins``), computed here the
slow way, pixel by pixel, on seeded random shapes (growing, shrinking,
grey <-> RGB, alpha)."""
import numpy as np

from golden.images import _bins, fit_image


def _by_definition(img: np.ndarray, shape) -> np.ndarray:
    h, w, c = shape
    if img.shape[2] in (2, 4):
        img = img[:, :, :-1]
    if c == 1 and img.shape[2] == 3:
        img = np.rint(img.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))[:, :, None]
    elif c == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = img.astype(np.float64)
    out = np.empty((h, w, c))
    for i, (y0, y1) in enumerate(_bins(img.shape[0], h)):
        for j, (x0, x1) in enumerate(_bins(img.shape[1], w)):
            out[i, j] = img[y0:y1, x0:x1].mean(axis=(0, 1))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def test_fit_image_is_the_mean_of_each_box():
    rng = np.random.default_rng(23)
    for _ in range(200):
        sh, sw, h, w = rng.integers(1, 48, 4)
        img = rng.integers(0, 256, (sh, sw, int(rng.choice([1, 2, 3, 4]))), dtype=np.uint8)
        shape = (int(h), int(w), int(rng.choice([1, 3])))
        assert np.array_equal(fit_image(img, shape), _by_definition(img, shape)), (img.shape, shape)
