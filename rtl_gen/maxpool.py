"""``MaxPool``: SqueezeNet's 3x3 / stride 2 / ceil-mode max pool on uint8.

    i -> WindowGenerator (3x3, stride 2, no padding, ceil-mode output size)
      -> ChannelReduce(max over the 9 taps) -> o

Window cells past the bottom/right edge (ceil mode) come out of the window
generator as 0, the neutral element of a uint8 max, so they are ignored as
``docs/int8.md`` requires.  Streams: ``rtl_gen.stream``, one channel per beat.

Latency: the window generator's (an output pixel starts once its bottom-right
input pixel is written) plus 1 cycle.
Throughput: 9*C cycles per output pixel (one window beat per cycle), i.e.
about 2.25 cycles per input beat; the input is accepted at one beat per cycle
while the window generator's ring has a free row.
Back-pressure: from ``o`` through ChannelReduce (combinational ready) to the
window generator, whose ``i.ready`` depends on registers only.
"""
from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.shapes import output_size
from rtl_gen import stream
from rtl_gen.channel_reduce import ChannelReduce
from rtl_gen.window import WindowGenerator

__all__ = ["MaxPool"]


class MaxPool(wiring.Component):
    def __init__(self, channels: int, height: int, width: int, rows: int | None = None):
        """``rows``: the window generator's ring rows (default 5; 3 saves
        block RAM when the producer is the slower side)."""
        for name, value in (("channels", channels), ("height", height), ("width", width)):
            if not isinstance(value, int) or value < 1:
                self._MustUse__silence = True
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if height < 3 or width < 3:
            self._MustUse__silence = True
            raise ValueError(f"a 3x3 max pool needs an input of at least 3x3, got {height}x{width}")
        self.channels, self.height, self.width, self.rows = channels, height, width, rows
        self.out_height = output_size(height, 3, 2, 0, ceil=True)
        self.out_width = output_size(width, 3, 2, 0, ceil=True)
        super().__init__({"i": In(stream.Signature(1)), "o": Out(stream.Signature(1))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.window = window = WindowGenerator(self.channels, self.height, self.width, 3, 2, 0,
                                                       ceil=True, rows=self.rows)
        m.submodules.reduce = reduce = ChannelReduce(self.channels, 9, "max")
        wiring.connect(m, wiring.flipped(self.i), window.i)
        wiring.connect(m, window.o, reduce.i)
        wiring.connect(m, reduce.o, wiring.flipped(self.o))
        return m
