"""``Broadcast``: one stream to two consumers, each beat delivered to both.

Latency 1 cycle; throughput one beat per cycle when both consumers keep up.
Back-pressure: a beat is taken only when both output registers are free
(``~o.valid | o.ready`` per output), so ``i.ready`` is combinational in the
two ``o.ready`` -- in the Fire both consumers are MAC arrays whose
``i.ready`` is a register function, which ends the path there.
"""
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import stream
from rtl_gen.pipeline.block_cost import BlockCost

__all__ = ["Broadcast"]


class Broadcast(wiring.Component):
    def __init__(self, lanes: int = 1):
        super().__init__({"i": In(stream.Signature(lanes)), "a": Out(stream.Signature(lanes)),
                          "b": Out(stream.Signature(lanes))})

    def resource_cost(self) -> BlockCost:
        return BlockCost(lut=7)

    def elaborate(self, platform):
        m = Module()
        free_a = ~self.a.valid | self.a.ready
        free_b = ~self.b.valid | self.b.ready
        m.d.comb += self.i.ready.eq(free_a & free_b)
        with m.If(free_a):
            m.d.sync += self.a.valid.eq(0)
        with m.If(free_b):
            m.d.sync += self.b.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [self.a.valid.eq(1), self.a.payload.eq(self.i.payload),
                         self.b.valid.eq(1), self.b.payload.eq(self.i.payload)]
        return m
