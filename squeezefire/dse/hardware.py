"""The hardware columns of a sweep point: for each board and architecture,
whether the fit model says it fits, its estimated cells, DSPs and block
RAMs, and the cycle model's cycles per image and images/s at the
architecture's clock on that board.  Every figure here is the MODEL's
(``rtl_gen.fit``, the cycle models); ``--validate`` measures some.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from fpga.boards import get_board
from rtl_gen.fit import FitError, check_fit, estimate
from squeezefire.build import ARCHITECTURES, arch_clock

BOARDS = ("ice40", "ice40-hx8k", "ecp5", "gowin")
ARCHS = ("engine", "pipeline")


@dataclass(frozen=True)
class HardwareColumns:
    board: str
    arch: str
    fits: bool
    why: str                    # the refusal, or ""
    lut: int | None             # logic cells / LUTs (model)
    dsp: int | None
    bram: int | None            # block RAMs (model)
    cycles_per_image: int | None
    images_per_s: float | None  # at the architecture's clock on the board (model)
    clock_mhz: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def assess(bundle, board_key: str, arch: str) -> HardwareColumns:
    board = get_board(board_key)
    spec = ARCHITECTURES[arch]
    try:
        acc = (spec.assess or spec.make)(bundle, board)
        est = estimate(acc, board.device, image_in_bram=board.image_ram == "block")
    except ValueError as e:
        return HardwareColumns(board_key, arch, False, str(e).splitlines()[0], None, None, None, None, None, None)
    try:
        check_fit(est, board.device)
        fits, why = True, ""
    except FitError as e:
        fits, why = False, str(e).splitlines()[0]
    clock_hz = arch_clock(board, arch)[0]
    cycles = int(acc.cycles_per_frame)
    return HardwareColumns(board_key, arch, fits, why, int(est.lut), int(est.dsp), int(est.bram_blocks), cycles,
                           round(clock_hz / cycles, 1), round(clock_hz / 1e6, 2))


def hardware_columns(bundle, boards=BOARDS, archs=ARCHS) -> list[HardwareColumns]:
    return [assess(bundle, b, a) for b in boards for a in archs]
