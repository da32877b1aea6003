"""BypassAdd (simple bypass, parallel and serial) in Amaranth's simulator,
bit-exact against golden.intref.add, with seeded bubbles and stalls."""
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden import intref
from rtl_gen.pipeline.bypass import BypassAdd


def _run(dut, a, b, channels, seed):
    n = a.size
    out = []

    def source(port, values, rng_seed):
        async def run(ctx):
            rng = random.Random(rng_seed)
            for i, v in enumerate(values):
                while rng.random() < 0.3:
                    ctx.set(port.valid, 0)
                    await ctx.tick()
                ctx.set(port.valid, 1)
                ctx.set(port.payload, {"data": [int(v)], "first": int(i % channels == 0),
                                       "last": int(i % channels == channels - 1)})
                await ctx.tick().until(port.ready)
            ctx.set(port.valid, 0)
        return run

    async def sink(ctx):
        rng = random.Random(seed + 2)
        cycles = 0
        while len(out) < n:
            ready = rng.random() >= 0.3
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            cycles += 1
            assert cycles < 100 * n, f"only {len(out)} of {n} beats"
            if valid and ready:
                out.append((int(payload.data[0]), int(payload.first), int(payload.last)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source(dut.a, a, seed), background=True)
    sim.add_testbench(source(dut.b, b, seed + 1), background=True)
    sim.add_testbench(sink)
    sim.run()
    return out


@pytest.mark.parametrize("serial", [False, True])
@pytest.mark.parametrize("channels,shift", [(5, 16), (3, 14), (1, 9), (4, 17)])
def test_simple_bypass_matches_golden(serial, channels, shift):
    rng = np.random.default_rng(channels * 100 + shift)
    top = 2 ** min(16, shift - 1)                  # a small shift needs small multipliers to be useful
    m_a = rng.integers(0, top, channels)
    m_b = rng.integers(0, top, channels)
    m_a[0] = top - 1
    a = rng.integers(0, 256, 12 * channels)
    b = rng.integers(0, 256, 12 * channels)
    a[:channels], b[:channels] = 255, 255          # the largest sum
    want = intref.add(a, b, np.tile(m_a, 12), np.tile(m_b, 12), shift)
    assert 0 < np.count_nonzero((want > 0) & (want < 255))
    out = _run(BypassAdd(m_a, m_b, shift, "uint8", serial=serial), a, b, channels, seed=shift)
    assert [v for v, _, _ in out] == want.tolist()
    assert [(f, l) for _, f, l in out] == [(int(i % channels == 0), int(i % channels == channels - 1))
                                          for i in range(a.size)]


def test_serial_needs_the_simple_bypass():
    with pytest.raises(ValueError, match="serial=True supports only the simple bypass"):
        BypassAdd([1], [1], 8, "acc", serial=True)
