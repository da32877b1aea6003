"""The Gowin GW1NR-9 PLL (``rPLL``) as the ``sync`` clock of a board top.

``gowin_pll_config(f_in, f_out)`` chooses the dividers the way Apicula's
``gowin_pll`` does for the GW1NR-9 C6/I5 (the Tang Nano 9K's part; limits
from Gowin's DS117 as that tool has them: PFD 3-400 MHz, CLKOUT strictly
between 3.125 and 600 MHz, VCO strictly between 400 and 1200 MHz;
IDIV_SEL 0-63, FBDIV_SEL 0-63, ODIV_SEL one of 2, 4, 8, 16, 32, 48, ...,
128; the closest output wins, the first found on a tie, searching IDIV_SEL,
then FBDIV_SEL, then ODIV_SEL upwards; ``tests/test_gowin_pll.py`` checks it
against ``gowin_pll``):

    f_pfd = f_in / (IDIV_SEL + 1)   f_out = f_pfd * (FBDIV_SEL + 1)   f_vco = f_out * ODIV_SEL

``GowinPll`` instantiates it with internal feedback.  Reset: ``sync`` is
held until the PLL reports lock (``fpga.pll_reset``).  The flow gives
nextpnr no clock constraint, so the build passes ``--freq`` with the PLL's
output (``squeezefire.build.prepare_plan``).

Only the build uses this block (it needs the vendor primitive); simulations
run ``fpga.board_core.BoardCore`` on a plain clock.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from amaranth.hdl import Elaboratable, Instance, Module, Signal
from amaranth.lib import io

from fpga.pll_check import check_frequencies
from fpga.pll_reset import drive_sync_from_pll

__all__ = ["GowinPllConfig", "gowin_pll_config", "GowinPll"]

PFD_MHZ = (3.0, 400.0)
OUT_MHZ = (3.125, 600.0)        # exclusive, as gowin_pll has them
VCO_MHZ = (400.0, 1200.0)       # exclusive
IDIV_SEL = range(64)
FBDIV_SEL = range(64)
ODIV_SEL = (2, 4, 8, 16, 32, 48, 64, 80, 96, 112, 128)
DEVICE = "GW1NR-9C"             # rPLL's DEVICE parameter for the Tang Nano 9K's chip
TOLERANCE = 0.01                # the largest relative error of f_out accepted


@dataclass(frozen=True)
class GowinPllConfig:
    idiv_sel: int
    fbdiv_sel: int
    odiv_sel: int
    f_in: float             # Hz
    f_out: float            # the frequency these dividers give, in Hz

    @property
    def f_vco(self) -> float:
        return self.f_out * self.odiv_sel

    def describe(self) -> str:
        return (f"rPLL from {self.f_in / 1e6:g} MHz: IDIV_SEL {self.idiv_sel}, FBDIV_SEL {self.fbdiv_sel}, "
                f"ODIV_SEL {self.odiv_sel}, VCO {self.f_vco / 1e6:g} MHz")


@functools.lru_cache(maxsize=64)
def gowin_pll_config(f_in: float, f_out: float) -> GowinPllConfig:
    """Dividers for ``f_out`` from ``f_in`` (Hz); ``ValueError`` naming the
    frequency and the allowed range, or that no setting is within 1 %."""
    check_frequencies(f_in, f_out)
    if not OUT_MHZ[0] < f_out / 1e6 < OUT_MHZ[1]:
        raise ValueError(f"Gowin PLL output {f_out / 1e6:g} MHz is outside its {OUT_MHZ[0]:g}-{OUT_MHZ[1]:g} MHz")
    f_in_mhz, target = f_in / 1e6, f_out / 1e6
    best = None
    for idiv in IDIV_SEL:
        f_pfd = f_in_mhz / (idiv + 1)
        if not PFD_MHZ[0] <= f_pfd <= PFD_MHZ[1]:
            continue
        for fbdiv in FBDIV_SEL:
            got = f_in_mhz * (fbdiv + 1) / (idiv + 1)
            if not OUT_MHZ[0] < got < OUT_MHZ[1]:
                continue
            odiv = next((d for d in ODIV_SEL if VCO_MHZ[0] < got * d < VCO_MHZ[1]), None)
            error = round(abs(got - target), 9)     # an exact tie stays a tie: the first found wins
            if odiv is not None and (best is None or error < best[0]):
                best = (error, idiv, fbdiv, odiv, got)
    if best is None or best[0] > TOLERANCE * target:
        raise ValueError(f"the Gowin PLL cannot make {target:g} MHz from {f_in_mhz:g} MHz "
                         f"within {TOLERANCE:.0%}")
    _, idiv, fbdiv, odiv, got = best
    return GowinPllConfig(idiv, fbdiv, odiv, f_in, f_in * (fbdiv + 1) / (idiv + 1))


class GowinPll(Elaboratable):
    """Drives the clock and reset of the ``sync`` domain (which the parent
    defines) at ``config.f_out`` from the platform's default clock pin,
    through an input buffer into CLKIN.

    ``sync`` reset: asserted while the PLL is unlocked (``fpga.pll_reset``);
    synchronous to ``sync``.
    """

    def __init__(self, config: GowinPllConfig):
        self.config = config

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        clk_out, lock = Signal(), Signal()
        m.submodules.pll = Instance(
            "rPLL",
            p_DEVICE=DEVICE, p_FCLKIN=f"{cfg.f_in / 1e6:g}",
            p_IDIV_SEL=cfg.idiv_sel, p_FBDIV_SEL=cfg.fbdiv_sel, p_ODIV_SEL=cfg.odiv_sel,
            p_DYN_IDIV_SEL="false", p_DYN_FBDIV_SEL="false", p_DYN_ODIV_SEL="false",
            p_PSDA_SEL="0000", p_DYN_DA_EN="false", p_DUTYDA_SEL="1000",
            p_CLKFB_SEL="internal", p_CLKOUT_BYPASS="false", p_CLKOUTP_BYPASS="false", p_CLKOUTD_BYPASS="false",
            p_DYN_SDIV_SEL=2, p_CLKOUTD_SRC="CLKOUT", p_CLKOUTD3_SRC="CLKOUT",
            i_CLKIN=clk_buf.i, i_CLKFB=0, i_RESET=0, i_RESET_P=0,
            i_FBDSEL=0, i_IDSEL=0, i_ODSEL=0, i_PSDA=0, i_DUTYDA=0, i_FDLY=0,
            o_CLKOUT=clk_out, o_LOCK=lock)
        drive_sync_from_pll(m, clk_out, lock, cfg.f_out)
        return m
