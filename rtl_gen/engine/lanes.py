"""The engine's ``lanes`` MAC lanes (16 unless asked otherwise) and the
serializer behind them.

Every cycle one uint8 activation is broadcast to all lanes and lane ``l``
multiplies it with its own int8 weight.  The products come from ``lanes / 2``
``DualMult`` (on iCE40: ``SB_MAC16`` in dual 8x8 mode, eight for 16 lanes)
and are summed in fabric, ``acc_bits`` wide, which holds any sum of the
program (no overflow, no saturation: ``docs/int8.md`` §2).  On a pixel's
last tap the ``lanes`` sums move to the result registers and the serializer
(a shift register of ``lanes``) hands them out one per cycle, lane 0 first,
the pixel's ``meta.lanes`` of them.

Latency: a tap's product is summed ``LATENCY`` (3) cycles after the inputs;
the first value of a pixel leaves the serializer 2 cycles after its last
product is summed.  Throughput: one tap per cycle on all lanes; one value per cycle
out.  Back-pressure: none; the sequencer's ``period >= lanes`` keeps the
serializer ahead of the next pixel (the result registers are overwritten
``period`` cycles later).
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Shape, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.dual_mult import LATENCY, DspImpl, DualMult, check_impl
from rtl_gen.engine.program import DEFAULT_LANES, check_lanes
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["MacLanes", "value_layout"]


def value_layout(acc_bits: int, meta: data.StructLayout, lanes: int = DEFAULT_LANES) -> data.StructLayout:
    """One lane's sum leaving the serializer."""
    return data.StructLayout({"valid": 1, "value": signed(acc_bits), "lane": range(lanes), "meta": meta})


@dataclass(frozen=True)
class LanesParams:
    """``MacLanes``' parameters: the multipliers' ``impl`` (a
    ``rtl_gen.dual_mult.DspImpl`` or its name), the accumulators' signed
    width ``acc_bits``, the pixel's ``meta`` layout and the number of
    ``lanes`` (``program.check_lanes``: even, a ``DualMult`` per pair)."""
    impl: DspImpl
    acc_bits: int
    meta: data.StructLayout
    lanes: int = DEFAULT_LANES

    def __post_init__(self):
        object.__setattr__(self, "impl", check_impl(self.impl))
        check_int("acc_bits", self.acc_bits, 2)
        check_lanes(self.lanes)


class MacLanes(wiring.Component, metaclass=ParamsFirst):
    """Inputs, all of one tap in the same cycle: ``valid``/``last`` of the
    tap (``last``: the pixel's last), ``a`` (in the padding: 0, or the image's ``pad`` value),
    ``w[lanes]`` and the pixel's ``meta``.  Arguments: those of ``LanesParams``."""
    Params = LanesParams

    def __init__(self, params: LanesParams):
        impl, acc_bits, meta = params.impl, params.acc_bits, params.meta
        self.impl, self.acc_bits, self.meta_layout = impl, acc_bits, meta
        lanes = self.lanes = params.lanes
        super().__init__({"valid": In(1), "last": In(1), "a": In(unsigned(8)),
                          "w": In(signed(8)).array(lanes), "meta": In(meta),
                          "o": Out(value_layout(acc_bits, meta, lanes))})

    def elaborate(self, platform):
        m = Module()
        products = self._multiply(m)
        flags = self._delay(m, LATENCY)
        totals, done, meta = self._accumulate(m, products, flags)
        self._serialize(m, totals, done, meta)
        return m

    def _multiply(self, m):
        products = []
        for i in range(self.lanes // 2):
            m.submodules[f"dsp{i}"] = dsp = DualMult(self.impl)
            for k in range(2):
                m.d.comb += [dsp.a[k].eq(self.a), dsp.w[k].eq(self.w[2 * i + k])]
                products.append(dsp.p[k])
        return products

    def _delay(self, m, cycles: int):
        """valid/last/meta, ``cycles`` cycles late (beside the products)."""
        layout = data.StructLayout({"valid": 1, "last": 1, "meta": self.meta_layout})
        stage = Signal(layout)
        m.d.comb += [stage.valid.eq(self.valid), stage.last.eq(self.last), stage.meta.eq(self.meta)]
        for _ in range(cycles):
            nxt = Signal(layout)
            m.d.sync += nxt.eq(stage)
            stage = nxt
        return stage

    def _accumulate(self, m, products, flags):
        """Each lane's running sum; it restarts from 0 after a pixel's last
        tap (the register's synchronous reset: no adder input mux), so the
        first tap's flag is not needed."""
        n = self.lanes
        acc = [Signal(signed(self.acc_bits), name=f"acc{k}") for k in range(n)]
        done = flags.valid & flags.last         # the results load on this edge
        totals = [acc[k] + products[k] for k in range(n)]
        for k in range(n):
            with m.If(done):
                m.d.sync += acc[k].eq(0)
            with m.Elif(flags.valid):
                m.d.sync += acc[k].eq(totals[k])
        meta = Signal(self.meta_layout)
        with m.If(done):
            m.d.sync += meta.eq(flags.meta)
        return totals, done, meta

    def _serialize(self, m, totals, done, meta):
        """The pixel's sums in a shift register, lane 0 at its head: loaded
        on the last tap, then shifted one lane per cycle (a 2:1 choice per
        bit instead of a lanes:1 multiplexer)."""
        n = self.lanes
        chain = [Signal(signed(self.acc_bits), name=f"result{k}") for k in range(n)]
        lane = Signal(range(n + 1), init=n)         # n: idle
        with m.If(done):
            m.d.sync += [lane.eq(0)] + [chain[k].eq(totals[k]) for k in range(n)]
        with m.Else():
            m.d.sync += [chain[k].eq(chain[k + 1]) for k in range(n - 1)]
            with m.If(lane != n):
                m.d.sync += lane.eq(lane + 1)
        o = self.o
        m.d.sync += [o.valid.eq((lane < meta.lanes) & (lane != n)), o.value.eq(chain[0]),
                     o.lane.eq(lane[:Shape.cast(range(n)).width]), o.meta.eq(meta)]
