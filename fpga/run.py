"""Host driver: classify images on the board.

    python -m fpga.run --port /dev/ttyUSB1 --image shoe.png [--sums]
    python -m fpga.run --port /dev/ttyUSB1 --data FOLDER|IMAGES.npy|fashion-mnist [--labels LABELS.npy]
                       [--limit N] [--out results.csv]
    common: [--build build/ice40] [--baud N] [--bundle FILE] [--invert] [--timeout S]

The build folder's ``board.json`` (``fpga.board_info``, written by
``python -m rtl_gen.build``) gives the baud rate, the input shape, the class
names and the network's id; ``--build`` defaults to ``build/ice40`` when it
exists (what ``make build`` writes), and ``--baud`` still overrides.  Without
a build folder the baud is 1 000 000 and the bundle gives the shape and
names.  The board is asked for its shape, class count and network first
(the info request, ``docs/host-link.md``); a board that names another
network or shape than the build is refused.

``--image``: the image (PNG or ``.npy``) is greyscaled / resized to the
input (area average when shrinking, nearest when growing, at most
``MAX_GROWTH`` times), sent, and the class is printed with its name.
``--data``: every image, two requests in flight (the board receives the
next while it computes), a tqdm bar, top-1 against the labels or the folder
names, end-to-end images/s, and a CSV or JSON (by ``--out``'s suffix) of the
class and sums per image.

Exit codes: 2 = bad arguments, image, data, build folder or port (one line,
before the port is opened where the check allows); 1 = the board answered
an error, did not answer, or is not the build's; 130 = interrupted.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from fpga.batch import ResultsError, ResultsFile, classify_many, window_for
from fpga.protocol import Info, LinkError, Result, encode_info_request, encode_request, read_reply
from fpga.run_inputs import MAX_GROWTH, Target, UsageError, check_link_args, load_one_image, resolve_target
from golden.images import fit_image, load_image, read_png

__all__ = ["read_png", "load_image", "fit_image", "classify", "main", "MAX_GROWTH"]

DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "golden" / "reference" / "reference.bundle"
DEFAULT_OUT = Path("fpga-run.csv")


def ask_info(port) -> Info:
    port.reset_input_buffer()
    port.write(encode_info_request())
    info = read_reply(port)
    if not isinstance(info, Info):
        raise LinkError("the board did not answer the info request")
    return info


def send_image(port, img: np.ndarray, info: Info) -> Result:
    port.write(encode_request(fit_image(img, info.shape).tobytes()))
    result = read_reply(port)
    if not isinstance(result, Result):
        raise LinkError("unexpected reply to an image request")
    return result


def classify(port, img: np.ndarray):
    """Ask the board for its shape, fit the image, send it; returns (Result, Info)."""
    info = ask_info(port)
    return send_image(port, img, info), info


def _shape_text(shape) -> str:
    return "x".join(map(str, shape))


def check_board(info: Info, target: Target) -> None:
    """LinkError when the board is not the one the build describes."""
    where = target.build or "the bundle"
    if target.shape is not None and tuple(info.shape) != tuple(target.shape):
        raise LinkError(f"the board's network takes {_shape_text(info.shape)} images, {where} says "
                        f"{_shape_text(target.shape)}: program the board with that build (python -m fpga.program)")
    if target.network_id is not None and info.network != target.network_id:
        raise LinkError(f"the board runs network {info.network:08x}, {where} was built for {target.network_id:08x}: "
                        f"program the board with that build (python -m fpga.program {where})")


# what ``fpga.protocol`` says of silence or of bytes at the wrong rate
NO_ANSWER = ("timeout waiting for the reply (0 of", "no reply sync", "reply checksum mismatch")


def silence_hint(port: str, target: Target) -> str:
    """The one line for a board that does not answer (or not at this baud)."""
    line = f"no valid answer from the board on {port} at {target.baud} baud (from {target.baud_source})"
    if target.build_baud is not None and target.build_baud != target.baud:
        return f"{line}; the build {target.build} runs its link at {target.build_baud} baud: drop --baud"
    return (f"{line}: is the board plugged in and programmed (python -m fpga.program), "
            "and is this its UART port (the iCEBreaker's is the FTDI's second, usually /dev/ttyUSB1)?")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m fpga.run", description="Classify images on the board.")
    ap.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1 (iCEBreaker: the 2nd FTDI port)")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--image", type=Path, help="one PNG or .npy image")
    what.add_argument("--data", help="many images: a class folder, IMAGES.npy or fashion-mnist")
    ap.add_argument("--labels", type=Path, help="labels .npy for --data IMAGES.npy")
    ap.add_argument("--limit", type=int, help="the first N images of --data only")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"--data results, .csv or .json (default {DEFAULT_OUT})")
    ap.add_argument("--build", type=Path, help="build folder (default build/ice40 when it exists)")
    ap.add_argument("--baud", type=int, help="baud rate (default: the build's; 1000000 without one)")
    ap.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="bundle for shape and names without a build")
    ap.add_argument("--invert", action="store_true", help="invert the image (Fashion-MNIST is light on dark)")
    ap.add_argument("--timeout", type=float, default=2.0, help="reply timeout in seconds")
    ap.add_argument("--sums", action="store_true", help="also print the per-class sums")
    return ap


def _name(names, cls: int) -> str:
    return f" ({names[cls]})" if names and cls < len(names) else ""


def _load_data(args, target: Target):
    from golden.datasets import DataError, load
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit {args.limit}: must be at least 1")
    if args.labels is not None and not args.labels.is_file():
        raise UsageError(f"labels file {args.labels} not found")
    try:
        data = load(args.data, target.shape, args.labels, limit=args.limit)
    except DataError as e:
        raise UsageError(f"--data: {e}") from None
    if len(data.images) == 0:
        raise UsageError(f"--data {args.data}: no images")
    images = 255 - data.images if args.invert else data.images
    return data, images


def _run_image(port, args, target: Target, img) -> int:
    info = ask_info(port)
    check_board(info, target)
    result = send_image(port, img, info)
    print(f"class {result.cls}{_name(target.classes, result.cls)}")
    if args.sums:
        print("sums " + " ".join(str(s) for s in result.sums))
    return 0


def _run_data(port, args, target: Target, data, images, out: ResultsFile) -> int:
    from tqdm import tqdm
    info = ask_info(port)
    check_board(info, target)
    frames = (fit_image(img, info.shape).tobytes() for img in images)
    t0 = time.perf_counter()
    results = list(tqdm(classify_many(port, frames, window_for(info.version)), total=len(images),
                        unit="image", file=sys.stderr))
    seconds = time.perf_counter() - t0
    labels = data.labels
    rows = [{"index": k, "label": None if labels is None else int(labels[k]), "class": r.cls, "sums": list(r.sums)}
            for k, r in enumerate(results)]
    out.write(rows)
    if labels is not None:
        hits = sum(int(r.cls == int(lab)) for r, lab in zip(results, labels))
        print(f"top-1 {hits / len(results):.4f} ({hits} of {len(results)}) against the labels")
    print(f"{len(results)} images in {seconds:.3f} s: {len(results) / seconds:.1f} images/s end to end "
          f"at {target.baud} baud; results in {out.path}")
    return 0


def _open(factory, args, target: Target):
    try:
        return factory(args.port, target.baud, timeout=args.timeout)
    except Exception as e:  # pyserial raises SerialException / ValueError
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(f"cannot open port {args.port}: {text}") from None


def _talk(port, args, target: Target, work) -> int:
    try:
        return work()
    except LinkError as e:
        text = str(e)
        if text.startswith(NO_ANSWER):
            text = silence_hint(args.port, target)
        print(f"error: {text}", file=sys.stderr)
        return 1
    finally:
        port.close()


def _main(args, serial_factory) -> int:
    check_link_args(args.baud, args.timeout)
    target = resolve_target(args.build, args.bundle, args.baud)
    if args.image is not None:
        img = load_one_image(args.image, args.invert, target.shape)
        work_of = lambda port: lambda: _run_image(port, args, target, img)      # noqa: E731
    else:
        out = ResultsFile(args.out)
        out.check()
        data, images = _load_data(args, target)
        work_of = lambda port: lambda: _run_data(port, args, target, data, images, out)     # noqa: E731
    if serial_factory is None:
        import serial
        serial_factory = serial.Serial
    port = _open(serial_factory, args, target)
    return _talk(port, args, target, work_of(port))


def main(argv=None, serial_factory=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args, serial_factory)
    except (UsageError, ResultsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
