"""``BypassAdd``: SqueezeNet's bypass sum, requantised (``docs/int8.md`` §5)::

    y[c] = clamp((a[c] * Ma[c] + b[c] * Mb[c] + 2**(shift-1)) >> shift, 0, 255)

``a`` is the Fire module's uint8 output; ``b`` is either the Fire's uint8
input (``side="uint8"``, simple bypass) or the int32 accumulator of the
bypass 1x1 conv (``side="acc"``, complex bypass; ``acc_layout``).  Both
streams carry the same H x W x C tensor order, one channel per beat; the
two are consumed in lockstep.

Two implementations (``serial``):

* parallel (default): two multipliers (DSPs; a 32-bit ``b`` takes two).
  Latency: 4 cycles (ROM read, products, sum/shift/clamp into the output
  FIFO, FIFO output register).  Throughput: one beat per cycle.
  Back-pressure: the pipeline never stalls; a pair of beats is taken only
  when the output FIFO has a free word reserved for it (credit counter), so
  ``a.ready``/``b.ready`` depend on the two ``valid``s and registers, never
  on ``o.ready``.
* serial (simple bypass only; for devices short of DSPs): no multiplier;
  ``P = 2P + Ma_bit * a + Mb_bit * b`` over the 16 bits of the multipliers,
  most significant first, the multipliers in a LUT ROM, rounding preloaded as ``2**(shift-17)`` (16
  doublings make it ``2**(shift-1)``) or, for ``shift <= 16``, added in one
  more step.
  Latency: ``serial_steps(shift) + 1`` cycles to ``o.valid``.  Throughput:
  one beat per ``serial_steps(shift) + 2`` cycles.  Back-pressure: a pair is taken only
  when idle (a register), the result waits in the output register.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen import int8, stream as tstream
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.params import ParamsFirst
from rtl_gen.pipeline.requant_checks import check_shift
from rtl_gen.pipeline.serial_requant import M_BITS
from rtl_gen.pipeline.rom import lut_rom, pack_words
from rtl_gen.stream import acc_layout

__all__ = ["BypassAdd", "BypassParams"]



def serial_steps(shift: int) -> int:
    """Shift-add steps per beat of the serial adder (one more when the
    rounding term cannot be preloaded)."""
    return M_BITS + (1 if shift <= M_BITS else 0)


FIFO_DEPTH = 8          # > pipeline depth (4), so a full credit loop never starves


@dataclass(frozen=True, eq=False)
class BypassParams:
    """``m_a``/``m_b`` uint16 vectors (one per channel), ``shift`` 1..48,
    ``side`` "uint8" (simple bypass) or "acc" (complex), ``serial`` the
    multiplier-free adder (simple bypass only)."""
    m_a: np.ndarray
    m_b: np.ndarray
    shift: int
    side: str = "uint8"
    serial: bool = False

    def __post_init__(self):
        m_a, m_b = np.asarray(self.m_a), np.asarray(self.m_b)
        if self.side not in ("uint8", "acc"):
            raise ValueError(f"side must be 'uint8' or 'acc', got {self.side!r}")
        if self.serial and self.side != "uint8":
            raise ValueError("serial=True supports only the simple bypass (side='uint8')")
        if m_a.ndim != 1 or m_a.shape != m_b.shape or m_a.size < 1:
            raise ValueError(f"m_a and m_b must be equal-length vectors, got shapes {m_a.shape} and {m_b.shape}")
        if min(int(m_a.min()), int(m_b.min())) < 0 or max(int(m_a.max()), int(m_b.max())) > 0xFFFF:
            raise ValueError("m_a and m_b values must fit uint16")
        for name, value in (("m_a", m_a), ("m_b", m_b), ("shift", check_shift(self.shift))):
            object.__setattr__(self, name, value)

    @classmethod
    def from_bundle(cls, bundle, layer: str, serial: bool = False) -> "BypassParams":
        """The add layer ``layer`` of a ``golden.bundle.Bundle`` (``serial``
        applies to a simple bypass only)."""
        lay = bundle.layer(layer)
        simple = lay.bypass == "simple"
        return cls(bundle.array(layer, "m_a"), bundle.array(layer, "m_b"), lay.shift,
                   "uint8" if simple else "acc", serial and simple)


class BypassAdd(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``BypassParams``."""
    Params = BypassParams

    def __init__(self, params: BypassParams):
        self.params = params
        self.m_a, self.m_b, self.shift = params.m_a, params.m_b, params.shift
        self.side, self.serial = params.side, params.serial
        self.channels = self.m_a.size
        b_sig = tstream.Signature(1) if self.side == "uint8" else stream.Signature(acc_layout())
        super().__init__({"a": In(tstream.Signature(1)), "b": In(b_sig), "o": Out(tstream.Signature(1))})

    def resource_cost(self) -> BlockCost:
        if self.serial:
            return BlockCost(lut=130)
        return BlockCost(lut=150, dsp=2 if self.side == "uint8" else 3)

    @classmethod
    def from_bundle(cls, bundle, layer: str, serial: bool = False) -> "BypassAdd":
        return cls(BypassParams.from_bundle(bundle, layer, serial))

    def elaborate(self, platform):
        if self.serial:
            return self._elaborate_serial()
        m = Module()
        C, sh = self.channels, self.shift
        m.submodules.mrom = mrom = Memory(shape=unsigned(32), depth=C,
                                          init=pack_words(zip(self.m_a, self.m_b), 16))
        rom = mrom.read_port()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=10, depth=FIFO_DEPTH)
        space = Signal(range(FIFO_DEPTH + 1), init=FIFO_DEPTH)

        a, b = self.a, self.b
        take = a.valid & b.valid & (space != 0)
        m.d.comb += [a.ready.eq(take), b.ready.eq(take)]
        c = Signal(range(C))
        m.d.comb += rom.addr.eq(c)
        with m.If(take):
            m.d.sync += c.eq(Mux(c == C - 1, 0, c + 1))
        m.d.sync += space.eq(space - take + (fifo.r_en & fifo.r_rdy))

        # stage 1: operands meet their multipliers from the ROM
        v1, f1, l1 = Signal(), Signal(), Signal()
        a1 = Signal(8)
        b1 = Signal(signed(32) if self.side == "acc" else unsigned(8))
        m.d.sync += [v1.eq(take), f1.eq(a.payload.first), l1.eq(a.payload.last),
                     a1.eq(a.payload.data[0]),
                     b1.eq(b.payload.data if self.side == "acc" else b.payload.data[0])]

        # stage 2: registered products; a 32-bit side is split into 16-bit
        # halves so every product stays within one 16x16 DSP multiplier.
        ma, mb = rom.data[:16], rom.data[16:]
        v2, f2, l2 = Signal(), Signal(), Signal()
        pa = Signal(24)
        m.d.sync += [v2.eq(v1), f2.eq(f1), l2.eq(l1), pa.eq(a1 * ma)]
        if self.side == "acc":
            p_lo = Signal(32)
            p_hi = Signal(signed(33))
            m.d.sync += [p_lo.eq(b1[:16] * mb), p_hi.eq(b1[16:].as_signed() * mb)]
            pb = (p_hi << 16) + p_lo
        else:
            pb_reg = Signal(24)
            m.d.sync += pb_reg.eq(b1 * mb)
            pb = pb_reg

        # stage 3: round, shift, clamp (the lower clamp is the ReLU)
        total = Signal(signed(50))
        m.d.comb += total.eq(pa + pb + int8.rounding(sh))
        y = total >> sh
        out = int8.clamp_u8(y)
        m.d.comb += [fifo.w_en.eq(v2), fifo.w_data.eq(Cat(out[:8], f2, l2))]

        m.d.comb += [self.o.valid.eq(fifo.r_rdy), fifo.r_en.eq(self.o.ready),
                     self.o.payload.data[0].eq(fifo.r_data[:8]),
                     self.o.payload.first.eq(fifo.r_data[8]), self.o.payload.last.eq(fifo.r_data[9])]
        return m

    def _elaborate_serial(self):
        m = Module()
        C, sh = self.channels, self.shift
        N = serial_steps(sh)
        width = max(8 + M_BITS + 1, sh) + 1            # a*Ma + b*Mb + 2**(sh-1), exact
        c = Signal(range(max(2, C)))
        # (Mb << 16) | Ma of channel c, in LUTs: saves block RAMs where serial is chosen
        const = lut_rom(m, c, pack_words(zip(self.m_a, self.m_b), 16), 32)

        busy = Signal()
        n = Signal(range(N + 1))
        a, b = Signal(8), Signal(8)
        ma, mb = Signal(M_BITS), Signal(M_BITS)
        acc = Signal(width)
        first, last = Signal(), Signal()
        take = self.a.valid & self.b.valid & ~busy
        m.d.comb += [self.a.ready.eq(take), self.b.ready.eq(take)]
        with m.If(take):
            m.d.sync += [busy.eq(1), n.eq(0), acc.eq((1 << (sh - 1 - M_BITS)) if sh > M_BITS else 0),
                         a.eq(self.a.payload.data[0]), b.eq(self.b.payload.data[0]),
                         ma.eq(const[:16]), mb.eq(const[16:]),
                         first.eq(self.a.payload.first), last.eq(self.a.payload.last),
                         c.eq(Mux(c == C - 1, 0, c + 1))]
        with m.If(busy & (n < M_BITS)):
            m.d.sync += [acc.eq((acc << 1) + Mux(ma[-1], a, 0) + Mux(mb[-1], b, 0)),
                         ma.eq(ma << 1), mb.eq(mb << 1), n.eq(n + 1)]
        if N > M_BITS:
            with m.If(busy & (n == M_BITS)):
                m.d.sync += [acc.eq(acc + int8.rounding(sh)), n.eq(n + 1)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(busy & (n == N) & (~self.o.valid | self.o.ready)):
            m.d.sync += [busy.eq(0), self.o.valid.eq(1),
                         self.o.payload.data[0].eq(int8.clamp_u8(acc[sh:])),
                         self.o.payload.first.eq(first), self.o.payload.last.eq(last)]
        return m
