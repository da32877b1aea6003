"""``Classifier``: the network's output: global sum pool + argmax.

Input: the last conv layer's uint8 map (H x W x C classes, one channel per
beat), or, after a logits conv (``acc_bits`` given), its signed int32
accumulators (``rtl_gen.stream.acc_layout``).  Output: per frame, C beats in
class order, each with the class's int32 sum over H*W (``docs/int8.md``: the
mean times H*W; signed for logits) in ``data``; the last beat also carries
``argmax``, the class with the largest sum (compared signed for logits), ties
to the lowest index (a later class must be strictly larger to win).

Latency: 2 cycles from the last input beat of class c to its output beat.
Throughput: one input beat per cycle.
Back-pressure: two registered stages (``ChannelReduce`` and the argmax
stage), each ``i.ready = ~o.valid | o.ready``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen import int8, stream as tstream
from rtl_gen.accelerator import class_layout
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.pipeline.channel_reduce import ChannelReduce, ReduceParams
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["Classifier", "ClassifierParams"]


@dataclass(frozen=True)
class ClassifierParams:
    """``num_classes`` channels of a ``height`` x ``width`` map, all >= 1;
    ``acc_bits``: the width of a logits conv's signed accumulators, None for
    a uint8 map.  Checking builds the sum pool's ``reduce`` parameters."""
    num_classes: int
    height: int
    width: int
    acc_bits: int | None = None
    reduce: ReduceParams = field(init=False)

    def __post_init__(self):
        for name in ("num_classes", "height", "width"):
            check_int(name, getattr(self, name), 1)
        object.__setattr__(self, "reduce", ReduceParams(self.num_classes, self.height * self.width, "sum",
                                                        self.acc_bits))


class Classifier(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``ClassifierParams``."""
    Params = ClassifierParams

    def __init__(self, params: ClassifierParams):
        self.params = params
        self.num_classes, self.height, self.width = params.num_classes, params.height, params.width
        i = stream.Signature(tstream.acc_layout()) if params.acc_bits is not None else tstream.Signature(1)
        super().__init__({"i": In(i), "o": Out(stream.Signature(class_layout(self.num_classes)))})

    def resource_cost(self) -> BlockCost:
        # signed class sums: a wider best-sum register and comparator (Yosys
        # synth_ice40, 10 classes of 64 pixels: +20 LUT4s at 28 bits besides the sum's)
        return BlockCost(lut=40 if self.params.acc_bits is None else 60)

    def elaborate(self, platform):
        m = Module()
        C = self.num_classes
        m.submodules.pool = pool = ChannelReduce(self.params.reduce)
        wiring.connect(m, wiring.flipped(self.i), pool.i)

        s = pool.o
        cls = Signal(range(C))
        best = Signal(pool.out_shape)
        best_cls = Signal(range(C))
        wins = int8.takes_lead(cls == 0, s.payload.data > best)
        m.d.comb += s.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(s.valid & s.ready):
            m.d.sync += [cls.eq(Mux(cls == C - 1, 0, cls + 1)),
                         best.eq(Mux(wins, s.payload.data, best)),
                         best_cls.eq(Mux(wins, cls, best_cls)),
                         self.o.valid.eq(1),
                         self.o.payload.data.eq(s.payload.data),
                         self.o.payload.argmax.eq(Mux(wins, cls, best_cls)),
                         self.o.payload.first.eq(s.payload.first),
                         self.o.payload.last.eq(s.payload.last)]
        return m
