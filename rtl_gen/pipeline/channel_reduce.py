"""``ChannelReduce``: a per-channel max or sum over ``passes`` consecutive
C-channel groups of a one-channel-per-beat stream.

Input beats arrive in (pass, c) order -- exactly what the window
generator's im2col stream is (pass = tap) and what a feature map is
(pass = pixel).  After the last pass, channel c's result leaves as the
pass's beat c is consumed, so results stream out in channel order:

* ``op="max"`` (uint8 → uint8) after a 3x3 window generator is the maxpool;
* ``op="sum"`` (uint8 → up to 32-bit) over H*W passes is the global sum pool;
  with ``acc_bits`` it sums signed accumulators of that width instead (a
  logits conv's, on a ``rtl_gen.stream.acc_layout`` stream) into a signed
  sum of ``acc_bits + ceil(log2(passes))`` bits, at most 32 (the bundle
  keeps the gap's sum within int32, ``docs/int8.md`` §5).

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

from amaranth.hdl import Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen import stream as tstream
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["ChannelReduce", "ReduceParams", "sum_layout"]

SIGNED_SUM_LUT = 30         # more LUT4s for a sum of signed accumulators (resource_cost)


def sum_layout(shape) -> data.StructLayout:
    """A sum beat: ``data`` of ``shape`` (an int: that many unsigned bits)."""
    return data.StructLayout({"data": shape, "first": 1, "last": 1})


@dataclass(frozen=True)
class ReduceParams:
    """``channels`` and ``passes`` >= 1, ``op`` "max" or "sum";
    ``acc_bits`` (2..32, "sum" only): the inputs are signed accumulators of
    that width, None: uint8."""
    channels: int
    passes: int
    op: str = "max"
    acc_bits: int | None = None

    def __post_init__(self):
        check_int("channels", self.channels, 1)
        check_int("passes", self.passes, 1)
        if self.op not in ("max", "sum"):
            raise ValueError(f"op must be 'max' or 'sum', got {self.op!r}")
        if self.acc_bits is not None:
            check_int("acc_bits", self.acc_bits, 2)
            if self.acc_bits > 32 or self.op != "sum":
                raise ValueError(f"acc_bits must be 2..32 and op 'sum', got {self.acc_bits} with {self.op!r}")

    @property
    def out_shape(self) -> Shape:
        """uint8 for "max"; the exact sum's width for "sum"."""
        if self.op == "max":
            return unsigned(8)
        if self.acc_bits is None:
            return unsigned((255 * self.passes).bit_length())
        return signed(min(32, self.acc_bits + (self.passes - 1).bit_length()))


class ChannelReduce(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``ReduceParams``."""
    Params = ReduceParams

    def __init__(self, params: ReduceParams):
        self.params = params
        self.channels, self.passes, self.op = params.channels, params.passes, params.op
        self.out_shape = params.out_shape
        self.raw = params.acc_bits is not None
        out = tstream.Signature(1) if self.op == "max" else stream.Signature(sum_layout(self.out_shape))
        i = stream.Signature(tstream.acc_layout()) if self.raw else tstream.Signature(1)
        super().__init__({"i": In(i), "o": Out(out)})

    def resource_cost(self) -> BlockCost:
        # signed sums are wider: Yosys synth_ice40, 10 classes x 64 passes,
        # 63 LUT4s for uint8 inputs (15-bit sums), 91 for 22-bit accumulators (28-bit)
        return BlockCost(lut=55 + (SIGNED_SUM_LUT if self.raw else 0))

    def elaborate(self, platform):
        m = Module()
        C, P, B = self.channels, self.passes, self.out_shape.width
        m.submodules.partial = mem = Memory(shape=self.out_shape, depth=C, init=[])
        wr = mem.write_port()
        rd = mem.read_port(transparent_for=(wr,))

        c = Signal(range(C))
        p = Signal(range(P))
        frame_first = Signal()          # the group's first input beat carried `first`
        accept = self.i.valid & self.i.ready
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)

        x = self.i.payload.data if self.raw else self.i.payload.data[0]
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
