"""``ChannelConcat``: per pixel, ``channels_a`` beats from ``a`` then
``channels_b`` beats from ``b`` (torch.cat on the channel axis, a first).

The frame's ``first`` comes from ``a``, its ``last`` from ``b``.
Latency 1 cycle; throughput one beat per cycle.  Back-pressure: registered
output (``~o.valid | o.ready``); the selected input's ``ready`` follows
``o.ready`` combinationally -- in the Fire both inputs are MAC-array
serialisers, whose ``o.ready`` only reads their output FIFO.
"""
from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import stream
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["ChannelConcat", "ConcatParams"]


@dataclass(frozen=True)
class ConcatParams:
    channels_a: int
    channels_b: int

    def __post_init__(self):
        check_int("channels_a", self.channels_a, 1)
        check_int("channels_b", self.channels_b, 1)


class ChannelConcat(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``ConcatParams`` (channels per pixel from ``a``, then ``b``)."""
    Params = ConcatParams

    def __init__(self, params: ConcatParams):
        self.params = params
        self.channels_a, self.channels_b = params.channels_a, params.channels_b
        super().__init__({"a": In(stream.Signature(1)), "b": In(stream.Signature(1)),
                          "o": Out(stream.Signature(1))})

    def resource_cost(self) -> BlockCost:
        return BlockCost(lut=21)

    def elaborate(self, platform):
        m = Module()
        A, B = self.channels_a, self.channels_b
        j = Signal(range(max(2, A + B)))
        from_a = j < A
        advance = ~self.o.valid | self.o.ready
        with m.If(advance):
            m.d.sync += self.o.valid.eq(0)
            with m.If(from_a):
                m.d.comb += self.a.ready.eq(1)
                with m.If(self.a.valid):
                    m.d.sync += [self.o.valid.eq(1), self.o.payload.data.eq(self.a.payload.data),
                                 self.o.payload.first.eq(self.a.payload.first), self.o.payload.last.eq(0)]
            with m.Else():
                m.d.comb += self.b.ready.eq(1)
                with m.If(self.b.valid):
                    m.d.sync += [self.o.valid.eq(1), self.o.payload.data.eq(self.b.payload.data),
                                 self.o.payload.first.eq(0), self.o.payload.last.eq(self.b.payload.last)]
            with m.If((from_a & self.a.valid) | (~from_a & self.b.valid)):
                m.d.sync += j.eq(mod_inc(j, A + B))
        return m


def mod_inc(v, n):
    return Mux(v == n - 1, 0, v + 1)
