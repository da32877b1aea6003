"""Simulation top that streams every (activation, weight) pair through both
lanes of an ``rtl_gen.dual_mult.DualMult`` and hands the products to the
testbench in bulk, so Python wakes once per ``BATCH`` products per lane
instead of every cycle.

Stimulus (a counter, no memory): pair index ``i`` = 0 .. 65 535, one per
enabled cycle; lane 0 gets ``a = i % 256, w = int8(i // 256)``, lane 1 the
pair of index ``65 535 - i``.  The clock enable follows a seeded LFSR
(``stall``/256 of the cycles disabled, 0: never), and on disabled cycles the
inputs carry the bitwise complement of the pair -- a pipeline that sampled
them would show it.

Capture: a valid bit travels beside the multiplier for its ``LATENCY``
enabled cycles; each product is shifted into ``buf`` at the next enabled
edge after it appears (the pipeline holds it until then).  Every ``BATCH``
products ``batch`` takes a copy of the buffer (product j of the batch, lane
k, in bits ``[32j + 16k, 32j + 16k + 16)``) and ``batch_seq`` counts up;
``captured`` counts all products taken, so a run that captures too many is
seen.
"""
from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.dual_mult import LANES, LATENCY, DualMult

__all__ = ["BATCH", "PAIRS", "DualMultHarness", "unpack_batch"]

PAIRS = 1 << 16
BATCH = 256


class DualMultHarness(wiring.Component):
    def __init__(self, mult: DualMult, seed: int = 1):
        self.mult = mult
        self.seed = (seed % 0xFFFF) + 1             # an LFSR must not start at 0
        super().__init__({
            "stall": In(8),
            "batch": Out(32 * BATCH),
            "batch_seq": Out(16),
            "captured": Out(range(2 * PAIRS)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mult = mult = self.mult
        lfsr = Signal(16, init=self.seed)
        # Galois LFSR x^16 + x^14 + x^13 + x^11 + 1 (maximal length)
        m.d.sync += lfsr.eq((lfsr >> 1) ^ (lfsr[0].replicate(16) & 0xB400))
        en = Signal()
        m.d.comb += [en.eq(lfsr[:8] >= self.stall), mult.en.eq(en)]

        index = Signal(range(PAIRS + 1))
        issuing = index < PAIRS
        with m.If(en & issuing):
            m.d.sync += index.eq(index + 1)
        pairs = [index[:16], ~index[:16]]           # lane 1: pair 65 535 - i
        for k in range(LANES):
            pair = Signal(16)
            m.d.comb += [pair.eq(pairs[k] ^ (~en).replicate(16)),
                         mult.a[k].eq(pair[:8]), mult.w[k].eq(pair[8:])]

        valid = Signal(LATENCY)
        with m.If(en):
            m.d.sync += valid.eq(Cat(issuing, valid[:-1]))
        self._capture(m, en & valid[-1], mult.p)
        return m

    def _capture(self, m, take, products):
        buf = Signal(32 * BATCH)
        count = Signal(range(BATCH))
        shifted = Cat(buf[32:], *products)
        with m.If(take):
            m.d.sync += [buf.eq(shifted), count.eq(count + 1), self.captured.eq(self.captured + 1)]
            with m.If(count == BATCH - 1):
                m.d.sync += [self.batch.eq(shifted), self.batch_seq.eq(self.batch_seq + 1)]


def unpack_batch(value: int) -> np.ndarray:
    """The ``batch`` port's value as BATCH x 2 int16 (product, lane)."""
    return np.frombuffer(value.to_bytes(4 * BATCH, "little"), "<i2").reshape(BATCH, 2)
