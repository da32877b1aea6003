"""``StreamFifo``: a first-in first-out queue of stream beats.

Wraps ``amaranth.lib.fifo.SyncFIFOBuffered`` (block RAM plus an output
register).  Latency: 2 cycles from input to output when empty.  Throughput:
one beat per cycle.  Back-pressure: ``i.ready`` is the FIFO's "not full" and
``o.valid`` its "not empty", both registers, so the FIFO also breaks every
combinational ready/valid path through it.
"""
from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

__all__ = ["StreamFifo"]


class StreamFifo(wiring.Component):
    def __init__(self, layout, depth: int):
        if not isinstance(depth, int) or depth < 1:
            self._MustUse__silence = True
            raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
        self.depth = depth
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        width = len(self.i.payload.as_value())
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=width, depth=self.depth)
        m.d.comb += [fifo.w_data.eq(self.i.payload), fifo.w_en.eq(self.i.valid), self.i.ready.eq(fifo.w_rdy),
                     self.o.payload.eq(fifo.r_data), self.o.valid.eq(fifo.r_rdy), fifo.r_en.eq(self.o.ready)]
        return m
