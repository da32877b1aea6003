"""The global sum pool and the class output (``docs/int8.md`` §5).

During the last pass every output value is added to its class's int32 sum
(a read-modify-write in a small RAM; the same class comes back only a pixel
period, at least ``MIN_PERIOD`` cycles, later).  A group's first pixel
starts its classes' sums afresh, so nothing needs clearing between frames.
After ``start`` the sums leave on ``o`` one class per beat, in class order,
with ``argmax`` (the largest sum, ties to the lowest class) on the last.

Latency: the first beat is offered 2 cycles after ``start``.  Throughput:
one class every 2 cycles.  Back-pressure: ``o`` is a stream; a beat is held
until taken.
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen.accelerator import class_layout

__all__ = ["ClassSums"]


class ClassSums(wiring.Component):
    def __init__(self, num_classes: int, depth: int, c_bits: int):
        self.num_classes, self.depth, self.c_bits = num_classes, max(depth, num_classes), c_bits
        super().__init__({"add_valid": In(1), "add_y": In(unsigned(8)), "add_c": In(unsigned(c_bits)),
                          "add_fresh": In(1), "start": In(1), "busy": Out(1),
                          "o": Out(stream.Signature(class_layout(num_classes)))})

    def elaborate(self, platform):
        m = Module()
        sums = Memory(shape=signed(32), depth=self.depth, init=[])
        m.submodules.sums = sums
        rd, wr = sums.read_port(), sums.write_port()
        pending = Signal(data.StructLayout({"valid": 1, "y": 8, "c": self.c_bits, "fresh": 1}))
        m.d.sync += [pending.valid.eq(self.add_valid), pending.y.eq(self.add_y), pending.c.eq(self.add_c),
                     pending.fresh.eq(self.add_fresh)]
        m.d.comb += [wr.addr.eq(pending.c), wr.en.eq(pending.valid),
                     wr.data.eq(Mux(pending.fresh, 0, rd.data) + pending.y)]
        index = self._output(m, rd)
        m.d.comb += rd.addr.eq(Mux(self.busy, index, self.add_c))
        return m

    def _output(self, m, rd):
        o, n = self.o, self.num_classes
        index = Signal(range(self.depth))
        best, best_index = Signal(signed(32)), Signal.like(o.payload.argmax)
        better = (index == 0) | (rd.data > best)
        m.d.comb += [o.payload.data.eq(rd.data), o.payload.first.eq(index == 0), o.payload.last.eq(index == n - 1),
                     o.payload.argmax.eq(Mux(better, index, best_index))]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += index.eq(0)
                    m.next = "READ"
            with m.State("READ"):
                m.d.comb += self.busy.eq(1)
                m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += [self.busy.eq(1), o.valid.eq(1)]
                with m.If(o.ready):
                    m.d.sync += [best.eq(Mux(better, rd.data, best)), best_index.eq(Mux(better, index, best_index)),
                                 index.eq(index + 1)]
                    m.next = "READ"
                    with m.If(index == n - 1):
                        m.next = "IDLE"
        return index
