"""The global sum pool and the class output (``docs/int8.md`` §5).

During the last pass every output value is added to its class's sum
(a read-modify-write over three cycles in a small RAM; the same class
comes back only a pixel period, at least ``MIN_PERIOD`` = 4 cycles, later).  A group's first pixel
starts its classes' sums afresh, so nothing needs clearing between frames.
The values are uint8, or (``values``) a logits pass's signed accumulators.
The sums are kept as wide as ``pixels`` such values can add up to
(``sum_shape``: 16 bits for up to 257 uint8 pixels, one block RAM in 256x16
mode, and short adders), and leave as the contract's int32, sign-extended.
After ``start`` the sums leave on ``o`` one class per beat, in class order,
with ``argmax`` (the largest sum, ties to the lowest class) on the last.

Latency: the first beat is offered 4 cycles after ``start``.  Throughput:
one class every 4 cycles.  Back-pressure: ``o`` is a stream; a beat is held
until taken.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen import int8
from rtl_gen.accelerator import class_layout
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["ClassSums", "sum_shape"]


def sum_shape(pixels: int, values: range = range(256)) -> Shape:
    """A class sum over ``pixels`` of ``values``, and every partial sum."""
    return Shape.cast(range(min(0, pixels * values.start), max(0, pixels * (values.stop - 1)) + 1))


@dataclass(frozen=True)
class ClassSumsParams:
    """``ClassSums``' parameters: ``num_classes`` (>= 1), the sums' ``depth``
    (at least ``num_classes``; fewer is taken as that), the class index's
    ``c_bits``, the ``pixels`` summed and the range of the ``values`` added."""
    num_classes: int
    depth: int
    c_bits: int
    pixels: int
    values: range = range(256)

    def __post_init__(self):
        check_int("num_classes", self.num_classes, 1)
        check_int("c_bits", self.c_bits, 1)
        check_int("pixels", self.pixels, 1)
        if not isinstance(self.values, range) or not len(self.values):
            raise ValueError(f"values must be a non-empty range, got {self.values!r}")
        object.__setattr__(self, "depth", max(int(self.depth), self.num_classes))


class ClassSums(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``ClassSumsParams``."""
    Params = ClassSumsParams

    def __init__(self, params: ClassSumsParams):
        num_classes, c_bits, pixels, values = params.num_classes, params.c_bits, params.pixels, params.values
        self.num_classes, self.depth, self.c_bits = num_classes, params.depth, c_bits
        self.values, self.sum_shape = values, sum_shape(pixels, values)
        super().__init__({"add_valid": In(1), "add_y": In(values), "add_c": In(c_bits),
                          "add_fresh": In(1), "start": In(1), "busy": Out(1),
                          "o": Out(stream.Signature(class_layout(num_classes)))})

    def elaborate(self, platform):
        m = Module()
        sums = Memory(shape=self.sum_shape, depth=self.depth, init=[])
        m.submodules.sums = sums
        rd, wr = sums.read_port(), sums.write_port()
        add = data.StructLayout({"valid": 1, "y": self.values, "c": self.c_bits, "fresh": 1})
        read, ready = Signal(add), Signal(add)       # the sum is being read; it has been read
        old = Signal(self.sum_shape)
        m.d.sync += [read.valid.eq(self.add_valid), read.y.eq(self.add_y), read.c.eq(self.add_c),
                     read.fresh.eq(self.add_fresh), ready.eq(read), old.eq(rd.data)]
        m.d.comb += [wr.addr.eq(ready.c), wr.en.eq(ready.valid), wr.data.eq(Mux(ready.fresh, 0, old) + ready.y)]
        index = self._output(m, rd)
        m.d.comb += rd.addr.eq(Mux(self.busy, index, self.add_c))
        return m

    def _output(self, m, rd):
        """READ the class, LATCH it, JUDGE whether it beats the best so far
        (a register between the RAM and the comparison), OFFER it until
        taken."""
        o, n = self.o, self.num_classes
        index = Signal(range(self.depth))
        best, best_index = Signal(self.sum_shape), Signal.like(o.payload.argmax)
        current = Signal(self.sum_shape)
        half = self.sum_shape.width // 2
        # current > best, judged in halves: two short carry chains, not one long
        # one; the upper halves compare as the sums do (signed or not), the lower unsigned
        first, hi_gt, hi_eq, lo_gt = Signal(), Signal(), Signal(), Signal()
        upper = (lambda v: v[half:].as_signed()) if self.sum_shape.signed else (lambda v: v[half:])
        better = int8.takes_lead(first, hi_gt, hi_eq & lo_gt)
        m.d.comb += [o.payload.data.eq(current), o.payload.first.eq(index == 0), o.payload.last.eq(index == n - 1),
                     o.payload.argmax.eq(Mux(better, index, best_index))]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += index.eq(0)
                    m.next = "READ"
            with m.State("READ"):
                m.d.comb += self.busy.eq(1)
                m.next = "LATCH"
            with m.State("LATCH"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += current.eq(rd.data)
                m.next = "JUDGE"
            with m.State("JUDGE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [first.eq(index == 0), hi_gt.eq(upper(current) > upper(best)),
                             hi_eq.eq(current[half:] == best[half:]), lo_gt.eq(current[:half] > best[:half])]
                m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += [self.busy.eq(1), o.valid.eq(1)]
                with m.If(o.ready):
                    with m.If(better):
                        m.d.sync += [best.eq(current), best_index.eq(index)]
                    m.d.sync += index.eq(index + 1)
                    m.next = "READ"
                    with m.If(index == n - 1):
                        m.next = "IDLE"
        return index
