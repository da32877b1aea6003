"""The ECP5 PLL (``EHXPLLL``) as the ``sync`` clock of a board top.

``ecp5_pll_config(f_in, f_out)`` chooses the dividers the way Project
Trellis's ``ecppll`` does (its limits: input 8-400 MHz, PFD 3.125-400 MHz,
VCO 400-800 MHz, output 10-400 MHz; CLKI_DIV 1-128, CLKFB_DIV 1-80,
CLKOP_DIV 1-128; the closest output wins, then the VCO closest to 600 MHz,
then the first found searching CLKI_DIV, CLKFB_DIV, CLKOP_DIV upwards;
``tests/test_ecp5_pll.py`` checks it against ``yowasp-ecppll``).  The
feedback is CLKOP, so:

    f_pfd = f_in / CLKI_DIV      f_out = f_pfd * CLKFB_DIV      f_vco = f_out * CLKOP_DIV

``Ecp5Pll`` instantiates it with ecppll's loop-filter attributes.  Reset:
``sync`` is held until the PLL reports lock (``fpga.pll_reset``); ECP5
block RAMs are ready when configuration ends, so no further delay.

Only the build uses this block (it needs the vendor primitive); simulations
run ``fpga.board_core.BoardCore`` on a plain clock.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Elaboratable, Instance, Module, Signal
from amaranth.lib import io

from fpga.pll_check import check_frequencies
from fpga.pll_reset import drive_sync_from_pll

__all__ = ["Ecp5PllConfig", "ecp5_pll_config", "Ecp5Pll"]

IN_MHZ = (8.0, 400.0)
PFD_MHZ = (3.125, 400.0)
VCO_MHZ = (400.0, 800.0)
OUT_MHZ = (10.0, 400.0)
CLKI_DIV = (1, 128)
CLKFB_DIV = (1, 80)
CLKOP_DIV = (1, 128)
VCO_CENTRE_MHZ = 600
TOLERANCE = 0.01            # the largest relative error of f_out accepted
_EPS = 1e-9                 # MHz: differences below this are float noise (an exact tie is a tie)


def _round(mhz: float) -> float:
    return round(mhz / _EPS) * _EPS


@dataclass(frozen=True)
class Ecp5PllConfig:
    clki_div: int
    clkfb_div: int
    clkop_div: int
    f_in: float             # Hz
    f_out: float            # the frequency these dividers give, in Hz

    @property
    def f_vco(self) -> float:
        return self.f_out * self.clkop_div

    @property
    def clkop_cphase(self) -> int:
        """CLKOP's coarse phase in VCO cycles: half an output period, as
        ecppll writes it -- its single-precision frequencies and a truncation
        (11 for CLKOP_DIV 24, 4 for 8).  The phase of the fed-back output
        does not change the frequency; the same value keeps the netlist
        equal to ecppll's."""
        f32 = np.float32
        f_vco = f32(f32(f32(f32(self.f_in / 1e6) / f32(self.clki_div)) * f32(self.clkfb_div)) * f32(self.clkop_div))
        f_out = f32(f_vco / f32(self.clkop_div))
        ns_phase = f32(1 / (float(f_out) * 1e6) * 0.5)
        return int(float(ns_phase) * (float(f_vco) * 1e6))

    def describe(self) -> str:
        return (f"EHXPLLL from {self.f_in / 1e6:g} MHz: CLKI_DIV {self.clki_div}, CLKFB_DIV {self.clkfb_div}, "
                f"CLKOP_DIV {self.clkop_div}, VCO {self.f_vco / 1e6:g} MHz")


def _check_range(name: str, value_mhz: float, limits) -> None:
    if not limits[0] <= value_mhz <= limits[1]:
        raise ValueError(f"ECP5 PLL {name} {value_mhz:g} MHz is outside its {limits[0]:g}-{limits[1]:g} MHz")


@functools.lru_cache(maxsize=64)
def ecp5_pll_config(f_in: float, f_out: float) -> Ecp5PllConfig:
    """Dividers for ``f_out`` from ``f_in`` (Hz); ``ValueError`` naming the
    frequency and the allowed range, or that no setting is within 1 %."""
    check_frequencies(f_in, f_out)
    _check_range("input", f_in / 1e6, IN_MHZ)
    _check_range("output", f_out / 1e6, OUT_MHZ)
    f_in_mhz, target = f_in / 1e6, f_out / 1e6
    best = None         # ((error, |vco - 600|), dividers, f_out MHz)
    for clki in range(CLKI_DIV[0], CLKI_DIV[1] + 1):
        f_pfd = f_in_mhz / clki
        if not PFD_MHZ[0] <= f_pfd <= PFD_MHZ[1]:
            continue
        for clkfb in range(CLKFB_DIV[0], CLKFB_DIV[1] + 1):
            got = f_in_mhz * clkfb / clki
            # the CLKOP_DIV whose VCO is nearest the centre, the smaller of two equally near
            lo = max(CLKOP_DIV[0], math.ceil(VCO_MHZ[0] / got - _EPS))
            hi = min(CLKOP_DIV[1], math.floor(VCO_MHZ[1] / got + _EPS))
            if lo > hi:
                continue
            centre = math.floor(VCO_CENTRE_MHZ / got)
            clkop = min(sorted({min(max(d, lo), hi) for d in (centre, centre + 1)}),
                        key=lambda d: _round(abs(got * d - VCO_CENTRE_MHZ)))
            key = (_round(abs(got - target)), _round(abs(got * clkop - VCO_CENTRE_MHZ)))
            if best is None or key < best[0]:
                best = (key, (clki, clkfb, clkop), got)
    if best is None or best[0][0] > TOLERANCE * target:
        raise ValueError(f"the ECP5 PLL cannot make {target:g} MHz from {f_in_mhz:g} MHz "
                         f"within {TOLERANCE:.0%}")
    (_, (clki, clkfb, clkop), got) = best
    return Ecp5PllConfig(clki, clkfb, clkop, f_in, f_in * clkfb / clki)


class Ecp5Pll(Elaboratable):
    """Drives the clock and reset of the ``sync`` domain (which the parent
    defines) at ``config.f_out`` from the platform's default clock pin,
    through an input buffer into CLKI.

    ``sync`` reset: asserted while the PLL is unlocked (``fpga.pll_reset``);
    synchronous to ``sync``.
    """

    def __init__(self, config: Ecp5PllConfig):
        self.config = config

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        # No clock constraint here: nextpnr-ecp5 derives CLKOP's from the
        # pin's FREQUENCY (the platform's) and the dividers.
        m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        clk_out, lock = Signal(), Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            # ecppll's loop filter settings
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            a_FREQUENCY_PIN_CLKI=f"{cfg.f_in / 1e6:g}", a_FREQUENCY_PIN_CLKOP=f"{cfg.f_out / 1e6:g}",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
            p_CLKI_DIV=cfg.clki_div, p_CLKFB_DIV=cfg.clkfb_div, p_CLKOP_DIV=cfg.clkop_div,
            p_CLKOP_CPHASE=cfg.clkop_cphase, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            i_CLKI=clk_buf.i, i_CLKFB=clk_out, i_RST=0, i_STDBY=0,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=clk_out, o_LOCK=lock)
        drive_sync_from_pll(m, clk_out, lock, cfg.f_out)
        return m
