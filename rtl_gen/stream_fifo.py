"""``StreamFifo``: a first-in first-out queue of stream beats.

Wraps ``amaranth.lib.fifo.SyncFIFOBuffered`` (block RAM plus an output
register).  Latency: 2 cycles from input to output when empty.  Throughput:
one beat per cycle.  Back-pressure: ``i.ready`` is the FIFO's "not full" and
``o.valid`` its "not empty", both registers, so the FIFO also breaks every
combinational ready/valid path through it.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

__all__ = ["StreamFifo"]


class StreamFifo(wiring.Component):
    def __init__(self, layout, depth: int, fields: tuple[str, ...] | None = None):
        if not isinstance(depth, int) or depth < 1:
            self._MustUse__silence = True
            raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
        self.depth = depth
        self.fields = fields
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

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
