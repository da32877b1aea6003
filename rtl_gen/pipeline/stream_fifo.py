"""``StreamFifo``: a first-in first-out queue of stream beats.

Wraps ``amaranth.lib.fifo.SyncFIFOBuffered`` (block RAM plus an output
register).  Latency: 2 cycles from input to output when empty.  Throughput:
one beat per cycle.  Back-pressure: ``i.ready`` is the FIFO's "not full" and
``o.valid`` its "not empty", both registers, so the FIFO also breaks every
combinational ready/valid path through it.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["StreamFifo", "StreamFifoParams"]


@dataclass(frozen=True)
class StreamFifoParams:
    """``layout`` of the beats, ``depth`` >= 1 beats, ``fields`` the payload
    fields stored (None: all; the others read as 0)."""
    layout: object
    depth: int
    fields: tuple[str, ...] | None = None

    def __post_init__(self):
        check_int("depth", self.depth, 1)


class StreamFifo(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``StreamFifoParams``."""
    Params = StreamFifoParams

    def __init__(self, params: StreamFifoParams):
        self.params = params
        self.depth, self.fields = params.depth, params.fields
        super().__init__({"i": In(stream.Signature(params.layout)), "o": Out(stream.Signature(params.layout))})

    def resource_cost(self) -> BlockCost:
        return BlockCost(lut=110)

    def elaborate(self, platform):
        m = Module()
        if self.fields is None:
            stored_in, stored_out = self.i.payload.as_value(), self.o.payload.as_value()
        else:
            stored_in = Cat(*(getattr(self.i.payload, f).as_value() for f in self.fields))
            stored_out = Cat(*(getattr(self.o.payload, f).as_value() for f in self.fields))
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=len(stored_in), depth=self.depth)
        m.d.comb += [fifo.w_data.eq(stored_in), fifo.w_en.eq(self.i.valid), self.i.ready.eq(fifo.w_rdy),
                     stored_out.eq(fifo.r_data), self.o.valid.eq(fifo.r_rdy), fifo.r_en.eq(self.o.ready)]
        return m
