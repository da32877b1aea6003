"""The iCE40 PLL (``SB_PLL40_PAD``) as the ``sync`` clock of a board top.

``ice40_pll_config(f_in, f_out)`` chooses the dividers like Project
IceStorm's ``icepll`` (the datasheet's limits: PFD 10-133 MHz, VCO
533-1066 MHz, DIVR 0-15, DIVF 0-127, DIVQ 1-6; the closest output wins,
the first found on a tie, searching DIVR, then DIVF, then DIVQ upwards;
``tests/test_pll.py`` checks it against icepll's printed settings) and
``Ice40Pll`` instantiates it:

    f_out = f_in * (DIVF + 1) / ((DIVR + 1) * 2**DIVQ)

Reset: ``sync`` is held in reset until the PLL reports lock and then for
another 15 us more -- the same power-on delay Amaranth's iCE40 platform
uses, because iCE40 block RAMs read as zero for ~3 us after configuration.
A lost lock resets the design again.

Only the build uses this block (it needs the vendor primitive); simulations
run ``fpga.board_core.BoardCore`` on a plain clock.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Elaboratable, Instance, Module, Signal

from fpga.pll_check import check_frequencies
from fpga.pll_reset import drive_sync_from_pll

__all__ = ["PllConfig", "ice40_pll_config", "Ice40Pll"]

_PFD_MHZ = (10.0, 133.0)
_VCO_MHZ = (533.0, 1066.0)
_OUT_MHZ = (16.0, 275.0)
POWER_ON_DELAY_S = 15e-6


@dataclass(frozen=True)
class PllConfig:
    divr: int
    divf: int
    divq: int
    filter_range: int
    f_in: float
    f_out: float            # the frequency these dividers give, in Hz

    @property
    def f_vco(self) -> float:
        return self.f_in * (self.divf + 1) / (self.divr + 1)

    def describe(self) -> str:
        return (f"SB_PLL40_PAD from {self.f_in / 1e6:g} MHz: DIVR {self.divr}, DIVF {self.divf}, DIVQ {self.divq}, "
                f"FILTER_RANGE {self.filter_range}, VCO {self.f_vco / 1e6:g} MHz")


def _filter_range(f_pfd_mhz: float) -> int:
    # icepll's table: the loop filter setting for a PFD frequency
    for limit, value in ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5)):
        if f_pfd_mhz < limit:
            return value
    return 6


def ice40_pll_config(f_in: float, f_out: float) -> PllConfig:
    """Dividers for ``f_out`` from ``f_in`` (Hz); ``ValueError`` naming the
    frequency when no setting is within 1 %."""
    check_frequencies(f_in, f_out)
    f_in_mhz, f_out_mhz = f_in / 1e6, f_out / 1e6
    if not _OUT_MHZ[0] <= f_out_mhz <= _OUT_MHZ[1]:
        raise ValueError(f"PLL output {f_out_mhz:g} MHz is outside the iCE40 PLL's "
                         f"{_OUT_MHZ[0]:g}-{_OUT_MHZ[1]:g} MHz")
    best = None
    for divr in range(16):
        f_pfd = f_in_mhz / (divr + 1)
        if not _PFD_MHZ[0] <= f_pfd <= _PFD_MHZ[1]:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not _VCO_MHZ[0] <= f_vco <= _VCO_MHZ[1]:
                continue
            for divq in range(1, 7):
                got = f_vco / 2 ** divq
                error = abs(got - f_out_mhz)
                if best is None or error < best[0]:     # strictly: the first of equals stays, as in icepll
                    best = (error, divr, divf, divq, f_pfd, got)
    if best is None or best[0] > 0.01 * f_out_mhz:
        raise ValueError(f"the iCE40 PLL cannot make {f_out_mhz:g} MHz from {f_in_mhz:g} MHz")
    _, divr, divf, divq, f_pfd, got = best
    return PllConfig(divr, divf, divq, _filter_range(f_pfd), f_in, got * 1e6)


class Ice40Pll(Elaboratable):
    """Drives the clock and reset of the ``sync`` domain (which the parent
    defines) at ``config.f_out`` from the platform's default clock pin.

    ``sync`` reset: asserted while the PLL is unlocked and for
    ``POWER_ON_DELAY_S`` after lock; synchronous to ``sync``.
    """

    def __init__(self, config: PllConfig):
        self.config = config

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        # No clock constraint here: nextpnr derives the PLL output's from the
        # pin's (and names the net its own way, so one set here would be
        # ignored).  The oscillator pin is the PLL's own pad (iCEBreaker: pin 35), so the
        # pad variant takes it directly; SB_PLL40_CORE fed from that pin's
        # buffer cannot be placed (nextpnr: "no suitable BEL").
        clk_in = platform.request(platform.default_clk, dir="-")
        clk_out, lock = Signal(), Signal()
        m.submodules.pll = Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
            p_DIVR=cfg.divr, p_DIVF=cfg.divf, p_DIVQ=cfg.divq, p_FILTER_RANGE=cfg.filter_range,
            i_PACKAGEPIN=clk_in.io, i_RESETB=1, i_BYPASS=0,
            o_PLLOUTGLOBAL=clk_out, o_LOCK=lock)

        drive_sync_from_pll(m, clk_out, lock, cfg.f_out, POWER_ON_DELAY_S)
        return m
