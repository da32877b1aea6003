"""``DualMult``: two independent uint8 x int8 products per cycle -- one
iCE40 ``SB_MAC16`` in dual 8x8 mode, or a generic ``*`` for simulation
without the primitive and for other FPGA families.

Both implementations compute, per lane ``k`` in 0..1::

    p[k] = a[k] * w[k]        a: uint8 0..255, w: int8 -128..127, p: int16

exactly (the extremes -32 640 and 32 385 fit int16), with the same timing.

The ``SB_MAC16`` configuration (parameters ``SB_MAC16_DUAL_8X8``, checked in
``sim/tests/test_dual_mult.py`` against Yosys's own model of the primitive for all
65 536 pairs in both lanes):

* ``MODE_8x8 = 1``: the top multiplier computes ``A[15:8] * B[15:8]`` (lane
  1), the bottom one ``A[7:0] * B[7:0]`` (lane 0), each into its own 16-bit
  half of ``O``; nothing passes between the halves (the top adder's carry-in
  is the constant 0, not the bottom carry-out), and the 16x16 partial
  products and the accumulators are unused.
* ``A_SIGNED = 0``, ``B_SIGNED = 1``: activations on ``A``, weights on ``B``.
  In 8x8 mode the model widens each byte to 16 bits by its own flag -- ``A``
  zero-extended, ``B`` sign-extended -- and keeps the low 16 bits of the
  16x16 product, which is ``a * w mod 2**16``; read as int16 that is
  ``a * w`` itself since the product lies in -32 640..32 385.  So the mixed
  pair needs no correction in fabric.  (With ``B_SIGNED = 0`` a negative
  weight would read as ``w + 256`` and every product with ``w < 0`` and
  ``a != 0`` would be off by ``256 * a``; the test shows exactly those
  32 640 products per lane come out wrong then.)
* Registers: inputs (``A_REG``, ``B_REG``), the 8x8 product
  (``TOP/BOT_8x8_MULT_REG``) and the output register behind the adder, which
  adds the constant-0 ``C``/``D`` (``*ADDSUB_UPPERINPUT = 1``,
  ``*ADDSUB_LOWERINPUT = 1``, ``*OUTPUT_SELECT = 1``).  Every path inside the
  DSP is then register to register and the fabric sees only the DSP's
  registers -- which is also what nextpnr assumes, since its iCE40 database
  holds no DSP delays.
* No accumulator (16 bits: it would overflow; sums are done exactly in
  fabric), no cascade through ``CO``/``ACCUMCI`` (nextpnr issue #1027: one
  UP5K DSP's carry-out is broken), the hold, load and reset inputs tied
  inactive.

Latency: 3 enabled cycles -- inputs sampled at an enabled clock edge show
as the products on ``p`` after the third enabled edge (input, product and
output registers).
Throughput: two products per cycle, every cycle ``en`` is high.
Back-pressure: ``en`` low freezes the whole pipeline (the DSP's ``CE``):
``p`` holds and the inputs are ignored.  There is no valid bit and no reset:
the caller delays its own valid by ``LATENCY`` enabled cycles.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.params import ParamsFirst, check_choice

__all__ = ["DualMult", "DualMultParams", "DspImpl", "LANES", "LATENCY", "SB_MAC16_DUAL_8X8", "check_impl"]


class DspImpl(StrEnum):
    """How a multiplier lane pair is built."""
    SB_MAC16 = "sb_mac16"       # one iCE40 SB_MAC16 in dual 8x8 mode
    GENERIC = "generic"         # Amaranth's ``*``: the tools infer DSPs or logic


LANES = 2
LATENCY = 3

SB_MAC16_DUAL_8X8 = MappingProxyType({
    "NEG_TRIGGER": 0,
    "MODE_8x8": 1,
    "A_SIGNED": 0,                      # uint8 activations
    "B_SIGNED": 1,                      # int8 weights
    "A_REG": 1, "B_REG": 1, "C_REG": 0, "D_REG": 0,
    "TOP_8x8_MULT_REG": 1, "BOT_8x8_MULT_REG": 1,
    "PIPELINE_16x16_MULT_REG1": 0, "PIPELINE_16x16_MULT_REG2": 0,
    # output register = 8x8 product + C (top) / D (bottom), both constant 0
    "TOPADDSUB_LOWERINPUT": 1, "TOPADDSUB_UPPERINPUT": 1, "TOPADDSUB_CARRYSELECT": 0, "TOPOUTPUT_SELECT": 1,
    "BOTADDSUB_LOWERINPUT": 1, "BOTADDSUB_UPPERINPUT": 1, "BOTADDSUB_CARRYSELECT": 0, "BOTOUTPUT_SELECT": 1,
})

# Inputs of SB_MAC16 that the dual 8x8 configuration holds inactive.
_TIED_LOW = ("AHOLD", "BHOLD", "CHOLD", "DHOLD", "IRSTTOP", "IRSTBOT", "ORSTTOP", "ORSTBOT",
             "OLOADTOP", "OLOADBOT", "ADDSUBTOP", "ADDSUBBOT", "OHOLDTOP", "OHOLDBOT",
             "CI", "ACCUMCI", "SIGNEXTIN")


def check_impl(impl) -> DspImpl:
    """``impl`` as a ``DspImpl``, else ValueError (one line)."""
    return check_choice("impl", impl, DspImpl)


@dataclass(frozen=True)
class DualMultParams:
    """``DualMult``'s parameters: ``impl``, a ``DspImpl`` or its name."""
    impl: DspImpl

    def __post_init__(self):
        object.__setattr__(self, "impl", check_impl(self.impl))


class DualMult(wiring.Component, metaclass=ParamsFirst):
    """Two lanes ``p[k] = a[k] * w[k]`` (uint8 x int8 -> int16), latency
    ``LATENCY`` enabled cycles, clock enable ``en``; ``impl`` is
    ``"sb_mac16"`` (one iCE40 DSP) or ``"generic"`` (``*``).  Details in the
    module docstring."""

    SB_MAC16_PARAMS = SB_MAC16_DUAL_8X8
    Params = DualMultParams

    def __init__(self, params: DualMultParams):
        self.impl = params.impl
        super().__init__({
            "en": In(1, init=1),
            "a": In(unsigned(8)).array(LANES),
            "w": In(signed(8)).array(LANES),
            "p": Out(signed(16)).array(LANES),
        })

    def elaborate(self, platform):
        m = Module()
        if self.impl == DspImpl.SB_MAC16:
            self._sb_mac16(m)
        else:
            self._generic(m)
        return m

    def _sb_mac16(self, m):
        o = Signal(32)
        ports = {f"i_{name}": Const(0, 1) for name in _TIED_LOW}
        m.submodules.mac = Instance(
            "SB_MAC16",
            **{f"p_{name}": value for name, value in self.SB_MAC16_PARAMS.items()},
            **ports,
            i_CLK=ClockSignal(), i_CE=self.en,
            i_A=Cat(self.a[0], self.a[1]), i_B=Cat(self.w[0], self.w[1]),
            i_C=Const(0, 16), i_D=Const(0, 16),
            o_O=o)
        m.d.comb += [self.p[0].eq(o[:16]), self.p[1].eq(o[16:])]

    def _generic(self, m):
        # reset-less like the DSP's registers, so both behave the same
        for k in range(LANES):
            a = Signal(unsigned(8), reset_less=True)
            w = Signal(signed(8), reset_less=True)
            product = Signal(signed(16), reset_less=True)
            out = Signal(signed(16), reset_less=True)
            with m.If(self.en):
                m.d.sync += [a.eq(self.a[k]), w.eq(self.w[k]), product.eq(a * w), out.eq(product)]
            m.d.comb += self.p[k].eq(out)
