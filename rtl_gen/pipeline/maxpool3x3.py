"""``MaxPool3x3``: SqueezeNet's 3x3 / stride 2 / ceil-mode max pool on uint8.

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

from dataclasses import dataclass, field

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import stream
from rtl_gen.int8 import POOL_KINDS
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.pipeline.channel_reduce import ChannelReduce, ReduceParams
from rtl_gen.params import ParamsFirst, check_int
from rtl_gen.pipeline.window import WindowGenerator, WindowParams

__all__ = ["MaxPool3x3", "MaxPool3x3Params", "check_pool_input"]


def check_pool_input(params, kernel: int) -> None:
    """A pool's ``channels``, ``height`` and ``width`` are integers >= 1 and
    the input holds at least one ``kernel`` x ``kernel`` window."""
    for name in ("channels", "height", "width"):
        check_int(name, getattr(params, name), 1)
    if params.height < kernel or params.width < kernel:
        raise ValueError(f"a {kernel}x{kernel} max pool needs an input of at least {kernel}x{kernel}, "
                         f"got {params.height}x{params.width}")


@dataclass(frozen=True)
class MaxPool3x3Params:
    """``channels`` of a ``height`` x ``width`` input (at least 3x3);
    ``rows``: the window generator's ring rows (default 5; 3 saves block
    RAM when the producer is the slower side).  Checking builds the
    sub-blocks' parameters, ``window`` and ``reduce``."""
    channels: int
    height: int
    width: int
    rows: int | None = None
    window: WindowParams = field(init=False)
    reduce: ReduceParams = field(init=False)

    KIND = POOL_KINDS[0]        # the max pool this block computes (3x3/2 ceil mode)

    def __post_init__(self):
        check_pool_input(self, 3)
        object.__setattr__(self, "window", WindowParams(self.channels, self.height, self.width, 3, 2, 0,
                                                        ceil=True, rows=self.rows))
        object.__setattr__(self, "reduce", ReduceParams(self.channels, 9, "max"))


class MaxPool3x3(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``MaxPool3x3Params``."""
    Params = MaxPool3x3Params

    def __init__(self, params: MaxPool3x3Params):
        self.params = params
        self.channels, self.height, self.width, self.rows = params.channels, params.height, params.width, params.rows
        self.out_height, self.out_width = params.window.out_height, params.window.out_width
        super().__init__({"i": In(stream.Signature(1)), "o": Out(stream.Signature(1))})

    def resource_cost(self) -> BlockCost:
        return BlockCost()          # wiring only: the window generator and the reduction carry the logic

    def elaborate(self, platform):
        m = Module()
        m.submodules.window = window = WindowGenerator(self.params.window)
        m.submodules.reduce = reduce = ChannelReduce(self.params.reduce)
        wiring.connect(m, wiring.flipped(self.i), window.i)
        wiring.connect(m, window.o, reduce.i)
        wiring.connect(m, reduce.o, wiring.flipped(self.o))
        return m
