"""Host driver: send an image to the board and print the class.

    python -m fpga.run --port /dev/ttyUSB1 --image shoe.png [--baud 1000000]
                       [--bundle golden/reference/reference.bundle] [--invert]

The board is asked for its input shape and class count first (a zero-length
"info" request, ``docs/host-link.md``), the image (PNG or ``.npy``) is
greyscaled / resized to that shape (area average when shrinking, nearest
when growing), sent, and the reply's class is printed with its name when the
bundle lists ``classes``.  Errors print one line and exit non-zero:
2 = bad arguments / image / port, 1 = the board answered an error or did not
answer.

PNG decoding is a small built-in reader (``zlib`` + numpy: 8/16-bit grey,
grey+alpha, RGB, RGBA and 8-bit palette, non-interlaced) so the driver needs
no imaging library.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from golden.bundle import Bundle, BundleError
from golden.images import ImageError, fit_image, load_image, read_png
from fpga.protocol import Info, LinkError, Result, encode_info_request, encode_request, read_reply

__all__ = ["read_png", "load_image", "fit_image", "classify", "main"]

DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "golden" / "reference" / "reference.bundle"


def class_names(bundle: Path | None):
    """The bundle's class names (``golden.bundle``, no torch), or None when
    the bundle is missing or unreadable: the names are a nicety."""
    if bundle is None or not bundle.is_file():
        return None
    try:
        return Bundle.load(bundle).classes
    except BundleError:
        return None


def classify(port, img: np.ndarray):
    """Ask the board for its shape, fit the image, send it; returns (Result, Info)."""
    port.reset_input_buffer()
    port.write(encode_info_request())
    info = read_reply(port)
    if not isinstance(info, Info):
        raise LinkError("the board did not answer the info request")
    pixels = fit_image(img, info.shape)
    port.write(encode_request(pixels.tobytes()))
    result = read_reply(port)
    if not isinstance(result, Result):
        raise LinkError("unexpected reply to an image request")
    return result, info


def main(argv=None, serial_factory=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fpga.run", description="Classify an image on the board.")
    ap.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1 (iCEBreaker: the 2nd FTDI port)")
    ap.add_argument("--image", required=True, type=Path, help="PNG or .npy image")
    ap.add_argument("--baud", type=int, default=1_000_000, help="baud rate (default 1000000, as built)")
    ap.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="bundle for class names")
    ap.add_argument("--invert", action="store_true", help="invert the image (Fashion-MNIST is light on dark)")
    ap.add_argument("--timeout", type=float, default=2.0, help="reply timeout in seconds")
    ap.add_argument("--sums", action="store_true", help="also print the per-class sums")
    args = ap.parse_args(argv)
    try:
        img = load_image(args.image)
    except ImageError as e:
        print(f"error: cannot read image {args.image}: {e}", file=sys.stderr)
        return 2
    if args.invert:
        img = 255 - img
    if serial_factory is None:
        import serial
        serial_factory = serial.Serial
    try:
        port = serial_factory(args.port, args.baud, timeout=args.timeout)
    except Exception as e:  # pyserial raises SerialException / ValueError
        print(f"error: cannot open {args.port}: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    try:
        result, info = classify(port, img)
    except (LinkError, ImageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        port.close()
    names = class_names(args.bundle)
    name = f" ({names[result.cls]})" if names and result.cls < len(names) else ""
    print(f"class {result.cls}{name}")
    if args.sums:
        print("sums " + " ".join(str(s) for s in result.sums))
    return 0


if __name__ == "__main__":
    sys.exit(main())
