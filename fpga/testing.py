"""TEST STAND-IN, not the network: a tiny exact accelerator implementing
the accelerator interface (``rtl_gen.accelerator.AcceleratorSignature``),
used to test and exercise the board top, host link and build flow in
seconds.

``ClassSumStandIn`` computes, per image, ``sums[k] = sum of pixel[j] for all
j with j % num_classes == k`` (j = index in NHWC raster order) and the argmax
(ties to the lowest index) -- see ``standin_reference``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Array, Module, Mux, Signal, signed
from amaranth.lib import wiring

from rtl_gen.accelerator import AcceleratorSignature
from rtl_gen.fit import ResourceEstimate
from rtl_gen.params import ParamsFirst

__all__ = ["ClassSumStandIn", "StandInParams", "standin_reference"]


def standin_reference(pixels, num_classes: int):
    """(argmax, sums) the stand-in must produce for one image."""
    flat = np.asarray(pixels, dtype=np.int64).reshape(-1)
    sums = [int(flat[k::num_classes].sum()) for k in range(num_classes)]
    return int(np.argmax(sums)), sums


@dataclass(frozen=True)
class StandInParams:
    """The image ``in_shape`` (H, W, C) and ``num_classes`` 1..255;
    ``signature`` is the accelerator interface they make."""
    in_shape: tuple = (28, 28, 1)
    num_classes: int = 10
    signature: AcceleratorSignature = field(init=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.num_classes, int) or not 1 <= self.num_classes <= 255:
            raise ValueError(f"stand-in num_classes must be an integer in 1..255, got {self.num_classes!r}")
        object.__setattr__(self, "signature", AcceleratorSignature(self.in_shape, self.num_classes))


class ClassSumStandIn(wiring.Component, metaclass=ParamsFirst):
    """Test stand-in accelerator (see module docstring).

    Latency: the first class beat is offered 1 cycle after the image's
    ``last`` beat is accepted.  Throughput: one input beat per cycle, then
    ``num_classes`` output cycles per image (``cycles_per_frame``); it does
    not take a new image while emitting.  Back-pressure: ``i.ready`` is low
    while emitting; ``o`` is a registered stage with
    ``ready``-independent ``valid``.
    """

    Params = StandInParams

    def __init__(self, params: StandInParams):
        signature = params.signature
        self.in_shape, self.num_classes = signature.in_shape, signature.num_classes
        h, w, c = self.in_shape
        self.cycles_per_frame = h * w * c + self.num_classes
        self.macs_per_frame = self.mac_lanes = 0          # adders only
        super().__init__(signature)

    def resource_estimate(self, device) -> ResourceEstimate:
        # per-class 32-bit accumulators in LUT flip-flops, plus counters and
        # the output mux; no multipliers, no block RAM
        return ResourceEstimate(lut=60 * self.num_classes + 60, dsp=0, bram_bits=0)

    def elaborate(self, platform):
        m = Module()
        K = self.num_classes
        sums = Array(Signal(signed(32), name=f"sum{k}") for k in range(K))
        k = Signal(range(K))
        emitting = Signal()
        best = Signal(signed(32))
        best_k = Signal(self.o.payload.argmax.shape())
        i, o = self.i, self.o

        m.d.comb += i.ready.eq(~emitting)
        with m.If(i.valid & i.ready):
            px = i.payload.data[0]
            with m.If(i.payload.first):
                # A new image restarts the counters and drops old sums.
                for j in range(K):
                    m.d.sync += sums[j].eq(px if j == 0 else 0)
                m.d.sync += k.eq(1 % K)
            with m.Else():
                m.d.sync += [sums[k].eq(sums[k] + px), k.eq(Mux(k == K - 1, 0, k + 1))]
            with m.If(i.payload.last):
                m.d.sync += [emitting.eq(1), k.eq(0)]

        with m.If(o.ready):
            m.d.sync += o.valid.eq(0)
        with m.If(emitting & (~o.valid | o.ready)):
            # The sums shift down as they are sent, so the one going out is
            # always sums[0]: no 32-bit K-way mux before the comparator.
            cur = sums[0]
            for j in range(K - 1):
                m.d.sync += sums[j].eq(sums[j + 1])
            wins = (k == 0) | (cur > best)
            m.d.sync += [o.valid.eq(1), o.payload.data.eq(cur),
                         o.payload.first.eq(k == 0), o.payload.last.eq(k == K - 1),
                         k.eq(k + 1)]
            with m.If(wins):
                m.d.sync += [best.eq(cur), best_k.eq(k), o.payload.argmax.eq(k)]
            with m.Else():
                m.d.sync += o.payload.argmax.eq(best_k)
            with m.If(k == K - 1):
                m.d.sync += [emitting.eq(0), k.eq(0)]
        return m
