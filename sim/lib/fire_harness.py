"""The simulation top: the Fire between width converters and throttles.

    i (one pixel per beat) -> Unpack -> Throttle -> Fire -> Throttle -> Pack -> o (one pixel per beat)

Python (cocotb) then handshakes once per pixel instead of once per channel,
so long simulations run at Verilator speed.  The throttles gate a stream by
a seeded LFSR: a cycle is blocked when the LFSR byte is below the
``in_stall`` / ``out_stall`` input (0 = never, 128 = half the cycles), which
gives random input bubbles and output back-pressure on the Fire's own
one-channel ports at full simulation speed.  ``cycle`` counts clock cycles
since reset (for throughput measurement).
"""
from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import stream
from rtl_gen.pipeline.fire import Fire

__all__ = ["FireHarness", "Unpack", "Pack", "Throttle"]


class Unpack(wiring.Component):
    """``lanes`` channels per beat -> one channel per beat."""

    def __init__(self, lanes: int):
        self.lanes = lanes
        super().__init__({"i": In(stream.Signature(lanes)), "o": Out(stream.Signature(1))})

    def elaborate(self, platform):
        m = Module()
        N = self.lanes
        word = Signal(stream.beat_layout(N))
        have = Signal()
        idx = Signal(range(max(2, N)))
        m.d.comb += [self.o.valid.eq(have), self.o.payload.data[0].eq(word.data[idx]),
                     self.o.payload.first.eq(word.first & (idx == 0)),
                     self.o.payload.last.eq(word.last & (idx == N - 1)),
                     self.i.ready.eq(~have | (self.o.ready & (idx == N - 1)))]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [word.eq(self.i.payload), have.eq(1), idx.eq(0)]
        with m.Elif(self.o.valid & self.o.ready):
            with m.If(idx == N - 1):
                m.d.sync += have.eq(0)
            with m.Else():
                m.d.sync += idx.eq(idx + 1)
        return m


class Pack(wiring.Component):
    """One channel per beat -> ``lanes`` channels per beat."""

    def __init__(self, lanes: int):
        self.lanes = lanes
        super().__init__({"i": In(stream.Signature(1)), "o": Out(stream.Signature(lanes))})

    def elaborate(self, platform):
        m = Module()
        N = self.lanes
        buf = Signal(8 * N)
        first = Signal()
        idx = Signal(range(max(2, N)))
        closing = idx == N - 1
        m.d.comb += self.i.ready.eq(~closing | ~self.o.valid | self.o.ready)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            value = self.i.payload.data[0]
            with m.If(closing):
                m.d.sync += [self.o.valid.eq(1), self.o.payload.data.eq((buf | (value << 8 * (N - 1)))[:8 * N]),
                             self.o.payload.first.eq(self.i.payload.first if N == 1 else first),
                             self.o.payload.last.eq(self.i.payload.last), idx.eq(0), buf.eq(0)]
            with m.Else():
                m.d.sync += [idx.eq(idx + 1), buf.eq(buf | (value << (idx * 8)))]
                with m.If(idx == 0):
                    m.d.sync += first.eq(self.i.payload.first)
        return m


class Throttle(wiring.Component):
    """Pass-through that blocks the handshake on pseudo-random cycles
    (``stall``/256 of them).  The LFSR takes ``seed`` (nonzero, see
    ``sim.lib.stimulus.lfsr_seed``) on the first cycle after reset: a port, not a constant,
    so one compiled simulator serves every seed.  Latency 0 (combinational);
    back-pressure passes through, gated like ``valid``."""

    def __init__(self):
        super().__init__({"i": In(stream.Signature(1)), "o": Out(stream.Signature(1)), "stall": In(8),
                          "seed": In(16)})

    def elaborate(self, platform):
        m = Module()
        lfsr = Signal(16, init=1)
        loaded = Signal()
        m.d.sync += loaded.eq(1)
        with m.If(loaded):
            # Galois LFSR x^16 + x^14 + x^13 + x^11 + 1 (maximal length)
            m.d.sync += lfsr.eq((lfsr >> 1) ^ (lfsr[0].replicate(16) & 0xB400))
        with m.Else():
            m.d.sync += lfsr.eq(self.seed)
        go = loaded & (lfsr[:8] >= self.stall)
        m.d.comb += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid & go),
                     self.i.ready.eq(self.o.ready & go)]
        return m


class FireHarness(wiring.Component):
    def __init__(self, fire: Fire):
        self.fire = fire
        super().__init__({"i": In(stream.Signature(fire.cin)),
                          "o": Out(stream.Signature(fire.e1x1 + fire.e3x3)),
                          "in_stall": In(8), "out_stall": In(8), "in_seed": In(16), "out_seed": In(16),
                          "cycle": Out(32)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fire = fire = self.fire
        m.submodules.unpack = unpack = Unpack(fire.cin)
        m.submodules.pack = pack = Pack(fire.e1x1 + fire.e3x3)
        m.submodules.throttle_in = t_in = Throttle()
        m.submodules.throttle_out = t_out = Throttle()
        m.d.comb += [t_in.stall.eq(self.in_stall), t_out.stall.eq(self.out_stall),
                     t_in.seed.eq(self.in_seed), t_out.seed.eq(self.out_seed)]
        wiring.connect(m, wiring.flipped(self.i), unpack.i)
        wiring.connect(m, unpack.o, t_in.i)
        wiring.connect(m, t_in.o, fire.i)
        wiring.connect(m, fire.o, t_out.i)
        wiring.connect(m, t_out.o, pack.i)
        wiring.connect(m, pack.o, wiring.flipped(self.o))
        m.d.sync += self.cycle.eq(self.cycle + 1)
        return m
