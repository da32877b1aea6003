"""``ChannelReduce``: a per-channel max or sum over ``passes`` consecutive
C-channel groups of a one-channel-per-beat stream.

Input beats arrive in (pass, c) order -- exactly what the window
generator's im2col stream is (pass = tap) and what a feature map is
(pass = pixel).  After the last pass, channel c's result leaves as the
pass's beat c is consumed, so results stream out in channel order:

* ``op="max"`` (uint8 → uint8) after a 3x3 window generator is the maxpool;
* ``op="sum"`` (uint8 → up to 32-bit) over H*W passes is the global sum pool.

Storage: one memory of C partial results with a synchronous read port that
reads the *next* channel one cycle ahead (transparent for the write port, so
C = 1 works), so a result is ready when its beat arrives.  The first pass of
a group ignores the memory, which also makes a reset in mid-frame harmless.

Latency: 1 cycle from the last pass's beat c to output beat c.
Throughput: one input beat per cycle; C output beats per ``passes * C``
input beats.
Back-pressure: registered output, ``i.ready = ~o.valid | o.ready`` (the
stream docs' pattern); outside the last pass nothing is emitted, so the input
only waits for the output during the last pass.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen import stream as tstream
from rtl_gen.block_cost import BlockCost
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["ChannelReduce", "ReduceParams", "sum_layout"]


def sum_layout(bits: int) -> data.StructLayout:
    return data.StructLayout({"data": unsigned(bits), "first": 1, "last": 1})


@dataclass(frozen=True)
class ReduceParams:
    """``channels`` and ``passes`` >= 1, ``op`` "max" or "sum"."""
    channels: int
    passes: int
    op: str = "max"

    def __post_init__(self):
        check_int("channels", self.channels, 1)
        check_int("passes", self.passes, 1)
        if self.op not in ("max", "sum"):
            raise ValueError(f"op must be 'max' or 'sum', got {self.op!r}")


class ChannelReduce(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``ReduceParams``."""
    Params = ReduceParams

    def __init__(self, params: ReduceParams):
        self.params = params
        self.channels, self.passes, self.op = params.channels, params.passes, params.op
        self.out_bits = 8 if self.op == "max" else (255 * self.passes).bit_length()
        out = tstream.Signature(1) if self.op == "max" else stream.Signature(sum_layout(self.out_bits))
        super().__init__({"i": In(tstream.Signature(1)), "o": Out(out)})

    def resource_cost(self) -> BlockCost:
        return BlockCost(lut=55)

    def elaborate(self, platform):
        m = Module()
        C, P, B = self.channels, self.passes, self.out_bits
        m.submodules.partial = mem = Memory(shape=unsigned(B), depth=C, init=[])
        wr = mem.write_port()
        rd = mem.read_port(transparent_for=(wr,))

        c = Signal(range(C))
        p = Signal(range(P))
        frame_first = Signal()          # the group's first input beat carried `first`
        accept = self.i.valid & self.i.ready
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)

        x = self.i.payload.data[0]
        prev = Mux(p == 0, 0, rd.data)
        if self.op == "max":
            result = Mux(x > prev, x, prev)
        else:
            result = (prev + x)[:B]
        next_c = Mux(c == C - 1, 0, c + 1)
        # The read port always looks one channel ahead of the beat in flight.
        m.d.comb += [rd.addr.eq(Mux(accept, next_c, c)), rd.en.eq(1),
                     wr.addr.eq(c), wr.data.eq(result), wr.en.eq(accept)]

        # With one pass the group's opening beat is the one being emitted.
        group_first = self.i.payload.first if P == 1 else frame_first
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(accept):
            m.d.sync += c.eq(next_c)
            with m.If((c == 0) & (p == 0)):
                m.d.sync += frame_first.eq(self.i.payload.first)
            with m.If(c == C - 1):
                m.d.sync += p.eq(Mux(p == P - 1, 0, p + 1))
            with m.If(p == P - 1):
                m.d.sync += [self.o.valid.eq(1), self.o.payload.data.eq(result),
                             self.o.payload.first.eq(group_first & (c == 0)),
                             self.o.payload.last.eq(self.i.payload.last & (c == C - 1))]
        return m
