"""The host driver's inputs, checked before the port is opened: what the
board should be (``Target``: from a build folder's ``board.json``, else the
bundle), the baud rate, the timeout and the images.  Every refusal is a
``UsageError`` of one line naming the thing (``fpga.run`` exits 2)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpga.baud import DEFAULT_BAUD, check_baud
from fpga.board_info import BOARD_FILE, BoardInfo, BoardInfoError, load_board_info
from golden.bundle import Bundle, BundleError
from golden.images import ImageError, fit_image, load_image

__all__ = ["Target", "UsageError", "resolve_target", "check_link_args", "load_one_image", "MAX_BAUD",
           "DEFAULT_BUILD", "MAX_GROWTH"]

# the FT2232H's fastest rate (12 MHz); the boards' other bridges are slower
MAX_BAUD = 12_000_000
# where ``make build`` (python -m rtl_gen.build --board ice40) puts the default board's build
DEFAULT_BUILD = Path("build") / "ice40"
# an image may be grown at most this much per side to the network's input
# (nearest-neighbour beyond that invents the picture: a 1x1 image is refused)
MAX_GROWTH = 4


class UsageError(ValueError):
    """A bad argument, file or image (one line naming it; exit 2)."""


@dataclass(frozen=True)
class Target:
    """What the driver expects of the board: the baud to open the port at
    (and where it came from), the input shape, class names, the network id
    the info reply must name (None: not checked) and the build's own baud
    (None without a build)."""
    baud: int
    baud_source: str
    shape: tuple[int, int, int] | None
    classes: tuple[str, ...] | None
    network_id: int | None
    build: Path | None
    build_baud: int | None


def _from_build(build: Path, info: BoardInfo, baud: int | None) -> Target:
    source = "--baud" if baud is not None else str(build / BOARD_FILE)
    return Target(baud if baud is not None else info.baud, source, info.in_shape, info.classes,
                  info.network_id or None, build, info.baud)


def _from_bundle(bundle: Path | None, baud: int | None) -> Target:
    shape = classes = None
    if bundle is not None and bundle.is_file():
        try:
            loaded = Bundle.load(bundle)
            shape, classes = tuple(loaded.input.shape), loaded.classes
        except BundleError:
            pass                    # the names are a nicety; the board's info reply gives the shape
    source = "--baud" if baud is not None else "the default (no build folder)"
    return Target(baud if baud is not None else DEFAULT_BAUD, source, shape,
                  None if classes is None else tuple(classes), None, None, None)


def resolve_target(build: Path | None, bundle: Path | None, baud: int | None) -> Target:
    """From ``build`` (its ``board.json``), else ``DEFAULT_BUILD`` when it
    has one, else the bundle."""
    if build is None and (DEFAULT_BUILD / BOARD_FILE).is_file():
        build = DEFAULT_BUILD
    if build is None:
        return _from_bundle(bundle, baud)
    try:
        return _from_build(build, load_board_info(build), baud)
    except BoardInfoError as e:
        raise UsageError(f"--build: {e}") from None


def check_link_args(baud: int | None, timeout: float) -> None:
    """The baud (what a host bridge and the board's inter-byte timeout
    allow) and the reply timeout (finite, positive)."""
    if baud is not None:
        if baud > MAX_BAUD:
            raise UsageError(f"--baud {baud}: faster than any supported board's USB bridge ({MAX_BAUD} at most)")
        try:
            check_baud(None, baud)
        except ValueError as e:
            raise UsageError(f"--baud: {e}") from None
    if not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout {timeout}: must be a positive number of seconds")


def _check_array_file(path: Path) -> None:
    """A ``.npy`` image is one (H, W) or (H, W, C<=4) array of finite numbers."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UsageError(f"image {path}: not a readable .npy file ({type(e).__name__})") from None
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and not 1 <= arr.shape[2] <= 4):
        raise UsageError(f"image {path}: a {arr.dtype.name} {tuple(arr.shape)} array is not one image "
                         "(H, W) or (H, W, C) with C 1..4; give a stack of images with --data")
    if arr.dtype.kind not in "uif" or (arr.dtype.kind == "f" and not np.isfinite(arr).all()):
        raise UsageError(f"image {path}: {arr.dtype.name} values are not finite numbers")


def check_size(name: str, size: tuple[int, int], shape: tuple[int, int, int]) -> None:
    """Refuses an image more than ``MAX_GROWTH`` times smaller than ``shape``."""
    (h, w), (th, tw) = size, shape[:2]
    if h * MAX_GROWTH < th or w * MAX_GROWTH < tw:
        raise UsageError(f"image {name}: {h}x{w} is too small for the network's {th}x{tw} input "
                         f"(at least {math.ceil(th / MAX_GROWTH)}x{math.ceil(tw / MAX_GROWTH)})")


def load_one_image(path: Path, invert: bool, shape: tuple[int, int, int] | None) -> np.ndarray:
    """The image (uint8 HxWxC), fitted to ``shape`` when it is known."""
    if not path.is_file():
        raise UsageError(f"image {path} not found")
    if path.suffix.lower() == ".npy":
        _check_array_file(path)
    try:
        img = load_image(path)
        if invert:
            img = 255 - img
        if shape is None:
            return img
        check_size(str(path), img.shape[:2], shape)
        return fit_image(img, shape)
    except ImageError as e:
        raise UsageError(f"image {path}: {e}") from None
