"""The hardware columns of a sweep point: for each board and architecture,
whether the fit model says it fits, its estimated cells, DSPs and block
RAMs, and the cycle model's cycles per image and images/s at the
architecture's clock on that board (``squeezefire.architectures.assess_arch``, the
models the build's ``--arch auto`` chooses by).  Every figure here is the
MODEL's; ``--validate`` measures some.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from fpga.boards import get_board
from squeezefire.architectures import assess_arch, network_architectures

BOARDS = ("ice40", "ice40-hx8k", "ecp5", "gowin")
ARCHS = tuple(sorted(network_architectures()))      # engine, pipeline


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
    a = assess_arch(bundle, get_board(board_key), arch)
    est = a.est
    return HardwareColumns(board_key, arch, a.fits, a.refusal or "",
                           est and int(est.lut), est and int(est.dsp), est and int(est.bram_blocks),
                           a.cycles_per_frame, a.images_per_s and round(a.images_per_s, 1),
                           a.clock_hz and round(a.clock_hz / 1e6, 2))


def hardware_columns(bundle, boards=BOARDS, archs=ARCHS) -> list[HardwareColumns]:
    return [assess(bundle, b, a) for b in boards for a in archs]
