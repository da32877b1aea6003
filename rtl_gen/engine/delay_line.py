"""A fixed delay of ``cycles`` clock cycles for a wide value, kept in a
block RAM (a circular buffer) instead of ``cycles`` rows of flip-flops: on
the iCE40 each flip-flop the datapath does not need is a logic cell lost.

Latency: ``cycles`` (>= 2).  Throughput: one value per cycle.
Back-pressure: none.  The first ``cycles`` outputs after reset are whatever
the RAM held (a caller delays a valid bit in the same word, and ignores the
output until the pipeline has filled, as the engine's drain does).
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen.params import ParamsFirst, check_int

__all__ = ["DelayLine", "DelayParams"]


@dataclass(frozen=True)
class DelayParams:
    """``DelayLine``'s parameters: the value's ``shape`` and the delay in
    ``cycles`` (>= 2)."""
    shape: object
    cycles: int

    def __post_init__(self):
        check_int("cycles", self.cycles, 2)


class DelayLine(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``DelayParams``."""
    Params = DelayParams

    def __init__(self, params: DelayParams):
        shape, self.cycles = params.shape, params.cycles
        self.shape = shape
        super().__init__({"i": In(shape), "o": Out(shape)})

    def elaborate(self, platform):
        m = Module()
        depth = 1 << (self.cycles - 1).bit_length()
        ram = Memory(shape=self.shape, depth=depth, init=[])
        m.submodules.ram = ram
        wr, rd = ram.write_port(), ram.read_port()
        head = Signal(range(depth))
        m.d.sync += head.eq(head + 1)
        # written now, read (cycles - 1) cycles later, out one cycle after that
        m.d.comb += [wr.addr.eq(head), wr.data.eq(self.i), wr.en.eq(1),
                     rd.addr.eq(head - (self.cycles - 1)), self.o.eq(rd.data)]
        return m
