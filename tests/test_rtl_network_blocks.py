"""Network blocks (maxpool, classifier) in Amaranth's simulator, bit-exact
against golden.intref, with seeded random bubbles and stalls."""
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden import intref
from rtl_gen.classifier import Classifier
from rtl_gen.maxpool import MaxPool
from sim.pysim import run_stream


def _beats(frames):
    out = []
    for x in frames:
        flat = x.reshape(-1)
        out += [(int(v), int(i == 0), int(i == flat.size - 1)) for i, v in enumerate(flat)]
    return out


@pytest.mark.parametrize("c,h,w", [(1, 3, 3), (2, 4, 4), (3, 7, 6), (1, 28, 5), (4, 5, 9)])
def test_maxpool_matches_golden(c, h, w):
    rng = np.random.default_rng(c * 100 + h * 10 + w)
    frames = rng.integers(0, 256, (3, h, w, c)).astype(np.uint8)
    want = intref.maxpool(frames)
    out, _ = run_stream(MaxPool(c, h, w), _beats(frames), want.size, seed=3, bubbles=0.3, stalls=0.3)
    assert [v for v, _, _ in out] == want.reshape(-1).tolist()
    per = want[0].size
    assert [f for _, f, _ in out] == ([1] + [0] * (per - 1)) * 3
    assert [l for _, _, l in out] == ([0] * (per - 1) + [1]) * 3


def run_classifier(dut, beats, n_out, seed, bubbles=0.3, stalls=0.3):
    out = []

    async def source(ctx):
        rng = random.Random(seed)
        for value, first, last in beats:
            while rng.random() < bubbles:
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, {"data": [value], "first": first, "last": last})
            while not (await ctx.tick().sample(dut.i.ready))[2]:
                pass
        ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        rng = random.Random(seed + 1)
        for _ in range(200_000):
            if len(out) == n_out:
                return
            ready = rng.random() >= stalls
            ctx.set(dut.o.ready, ready)
            _, _, valid, p = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid and ready:
                out.append((int(p.data), int(p.argmax), int(p.first), int(p.last)))
        raise TimeoutError(f"{len(out)} of {n_out} beats")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    sim.run()
    return out


@pytest.mark.parametrize("c,h,w", [(10, 3, 3), (1, 2, 2), (3, 1, 1), (5, 4, 7)])
def test_classifier_sums_and_argmax(c, h, w):
    rng = np.random.default_rng(c + h + w)
    frames = rng.integers(0, 256, (4, h, w, c)).astype(np.uint8)
    frames[1] = 7                                   # every class ties: argmax must be 0
    frames[2, :, :, c - 1] = 255                    # the last class wins alone
    out = run_classifier(Classifier(c, h, w), _beats(frames), 4 * c, seed=c)
    sums = intref.gap(frames)
    assert [o[0] for o in out] == sums.reshape(-1).tolist()
    assert [out[(f + 1) * c - 1][1] for f in range(4)] == intref.argmax(sums).tolist()
    assert [o[2] for o in out] == ([1] + [0] * (c - 1)) * 4
    assert [o[3] for o in out] == ([0] * (c - 1) + [1]) * 4
