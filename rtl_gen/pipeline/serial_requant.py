"""``SerialRequant``: the requantisation of ``docs/int8.md`` §4 with no
multiplier -- one shift-add step per bit of ``M`` -- for devices whose hard
multipliers are all needed by the MAC products (iCE40 UP5K: 8 DSPs)::

    y = clamp((acc * M[c] + 2**(shift-1)) >> shift, 0, 255)

``i`` carries signed accumulators (``rtl_gen.stream.acc_layout``), one
channel per beat, channels ``0 .. cout-1`` of a pixel in order (the channel
is counted here, modulo ``cout``); ``o`` the uint8 results with the same
first/last framing.

How: a non-positive accumulator always gives 0 (``acc*M <= 0``, and adding
``2**(shift-1) < 2**shift`` cannot reach 1), so its magnitude is replaced
by 0 and only ``P = mag * M`` of non-negative numbers is formed, by the
classic shift-add multiplier: least significant bit of ``M`` first, one
``acc_bits``-wide addition per bit, the product's low bits shifting into the
register that held ``M``.  Rounding needs no adder of its own:
``(P + 2**(shift-1)) >> shift == ((P >> (shift-1)) + 1) >> 1`` exactly.
The multiplier constants sit in a LUT ROM indexed by the channel.

Cost: one ``acc_bits``-bit adder, about ``2 * acc_bits + 16`` flip-flops
and a ``cout``-entry LUT ROM.

Latency: 17 cycles from the input handshake to ``o.valid``.
Throughput: one value per ``CYCLES_PER_VALUE`` = 18 cycles while ``o`` is
ready.
Back-pressure: a finished value waits for the output register; ``i.ready``
is a register (not busy), never a function of ``o.ready``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import stream as tstream
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.params import ParamsFirst
from rtl_gen.pipeline.requant_checks import check_shift
from rtl_gen.pipeline.rom import lut_rom
from rtl_gen.stream import acc_layout

__all__ = ["SerialRequant", "SerialRequantParams", "M_BITS", "CYCLES_PER_VALUE"]

M_BITS = 16
CYCLES_PER_VALUE = M_BITS + 2       # accept, one step per bit of M, hand over


@dataclass(frozen=True, eq=False)
class SerialRequantParams:
    """``m`` uint16 (cout,), ``shift`` 1..48, ``acc_bits`` the signed width
    of the accumulators that can arrive (2..32); ``m`` stored as int64."""
    m: np.ndarray
    shift: int
    acc_bits: int = 32

    def __post_init__(self):
        m = np.asarray(self.m)
        if m.ndim != 1 or m.size < 1:
            raise ValueError(f"m must be a non-empty vector, got shape {m.shape}")
        if int(m.min()) < 0 or int(m.max()) >= 2 ** M_BITS:
            raise ValueError("m values must fit uint16")
        if not isinstance(self.acc_bits, int) or not 2 <= self.acc_bits <= 32:
            raise ValueError(f"acc_bits must be an integer in 2..32, got {self.acc_bits!r}")
        object.__setattr__(self, "shift", check_shift(self.shift))
        object.__setattr__(self, "m", m.astype(np.int64))


class SerialRequant(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``SerialRequantParams``."""
    Params = SerialRequantParams

    def __init__(self, params: SerialRequantParams):
        self.params = params
        self.m, self.shift, self.acc_bits = params.m, params.shift, params.acc_bits
        self.cout = self.m.size
        super().__init__({"i": In(stream.Signature(acc_layout())), "o": Out(tstream.Signature(1))})

    def resource_cost(self) -> BlockCost:
        return BlockCost(lut=120 + 2 * self.cout)

    def elaborate(self, platform):
        m = Module()
        sh, A = self.shift, self.acc_bits

        chan = Signal(range(max(2, self.cout)))
        mconst = lut_rom(m, chan, self.m, M_BITS)    # cout words are too few for a block RAM

        busy = Signal()
        n = Signal(range(M_BITS + 1))
        mag = Signal(A - 1)
        phi = Signal(A - 1)                         # product bits M_BITS.. ; bits 0.. live in plo
        plo = Signal(M_BITS)                        # M, shifting out as product bits shift in
        first, last = Signal(), Signal()
        m.d.comb += self.i.ready.eq(~busy)

        data = self.i.payload.data
        with m.If(self.i.valid & ~busy):
            m.d.sync += [busy.eq(1), n.eq(0), phi.eq(0), plo.eq(mconst),
                         mag.eq(Mux(data[A - 1], 0, data[:A - 1])),
                         first.eq(self.i.payload.first), last.eq(self.i.payload.last),
                         chan.eq(Mux(chan == self.cout - 1, 0, chan + 1))]
        step = Signal(A)
        m.d.comb += step.eq(phi + Mux(plo[0], mag, 0))
        with m.If(busy & (n != M_BITS)):
            m.d.sync += [phi.eq(step[1:]), plo.eq(Cat(plo[1:], step[0])), n.eq(n + 1)]

        product = Cat(plo, phi)                     # mag * M, exact
        q = product[sh - 1:]                        # floor(P / 2**(sh-1)); empty if sh-1 >= width
        y = Signal(8)
        if len(q) == 0:
            m.d.comb += y.eq(0)
        else:
            q9 = q[:9]
            over = (q[9:].any() if len(q) > 9 else 0) | (q9 == 511)
            # the contract's rounding and clamp (rtl_gen.int8) fused: the
            # rounding bit is the last product bit, 255 where the rounded value overflows
            m.d.comb += y.eq(Mux(over, 255, (q9 + 1)[1:9]))
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(busy & (n == M_BITS) & (~self.o.valid | self.o.ready)):
            m.d.sync += [busy.eq(0), self.o.valid.eq(1), self.o.payload.data[0].eq(y),
                         self.o.payload.first.eq(first), self.o.payload.last.eq(last)]
        return m
