"""``Broadcast``: one stream to two consumers, each beat delivered to both.

Latency 1 cycle; throughput one beat per cycle when both consumers keep up.
Back-pressure: a beat is taken only when both output registers are free
(``~o.valid | o.ready`` per output), so ``i.ready`` is combinational in the
two ``o.ready`` -- in the Fire both consumers are MAC arrays whose
``i.ready`` is a register function, which ends the path there.
"""
from dataclasses import dataclass

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import stream
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["Broadcast"]


@dataclass(frozen=True)
class BroadcastParams:
    """``Broadcast``'s parameters: the stream's ``lanes`` (bytes per beat)."""
    lanes: int = 1

    def __post_init__(self):
        check_int("lanes", self.lanes, 1)


class Broadcast(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``BroadcastParams``."""
    Params = BroadcastParams

    def __init__(self, params: BroadcastParams):
        lanes = params.lanes
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
