"""Window generator and a tiny Fire in Amaranth's simulator, bit-exact
against golden.intref (the full cocotb regression lives in sim/)."""
import numpy as np
import pytest

from golden import intref
from golden.codebook import Codebook
from golden.quantize import random_fire_bundle
from rtl_gen.pipeline.fire import Fire, Folding
from rtl_gen.pipeline.window import WindowGenerator
from sim.lib.network_cases import coarse_codebooks
from sim.lib.pysim import run_stream


def _beats(x):
    flat = x.reshape(-1)
    return [(int(v), int(i == 0), int(i == flat.size - 1)) for i, v in enumerate(flat)]


@pytest.mark.parametrize("rows", [None, "kernel"])
@pytest.mark.parametrize("c,h,w,k,s,p", [(2, 3, 4, 3, 1, 1), (1, 1, 1, 3, 1, 1), (3, 5, 1, 3, 1, 1),
                                         (1, 7, 6, 3, 2, 0), (2, 4, 5, 1, 1, 0), (1, 6, 7, 3, 2, 1),
                                         (3, 7, 6, 3, 2, 1), (2, 9, 5, 3, 1, 0)])
def test_window_generator_is_im2col(c, h, w, k, s, p, rows):
    rng = np.random.default_rng(h * 100 + w)
    frames = rng.integers(1, 256, (2, h, w, c)).astype(np.uint8)
    want = intref.im2col(frames, k, s, p).reshape(-1)
    beats = _beats(frames[0]) + _beats(frames[1])
    dut = WindowGenerator(c, h, w, k, s, p, rows=k if rows == "kernel" else None)
    out, _ = run_stream(dut, beats, want.size, seed=1, bubbles=0.3, stalls=0.3)
    assert [v for v, _, _ in out] == [int(v) for v in want]
    per_frame = want.size // 2
    assert [f for _, f, _ in out] == ([1] + [0] * (per_frame - 1)) * 2
    assert [l for _, _, l in out] == ([0] * (per_frame - 1) + [1]) * 2


@pytest.mark.parametrize("rows", [None, 3, 4])
@pytest.mark.parametrize("h,s", [(6, 2), (8, 3)])
def test_window_rows_no_window_reads_do_not_deadlock(h, s, rows):
    """Floor mode: the bottom input rows (row 5 of 6 at stride 2; rows 6, 7
    of 8 at stride 3) are in no window.  The reader releases them at the
    frame's end, possibly before the writer (slowed by input bubbles) has
    written them: the free-row credit then exceeds the ring size and the
    reader is a frame ahead of the writer for a while.  Both used to
    overflow (a wrong or stuck window with rows = k)."""
    rng = np.random.default_rng(7)
    frames = rng.integers(1, 256, (3, h, 5, 1)).astype(np.uint8)
    want = intref.im2col(frames, 3, s, 0).reshape(-1)
    beats = _beats(frames[0]) + _beats(frames[1]) + _beats(frames[2])
    out, _ = run_stream(WindowGenerator(1, h, 5, 3, s, 0, rows=rows), beats, want.size, seed=2,
                        bubbles=0.5, stalls=0.2, timeout=20_000)
    assert [v for v, _, _ in out] == [int(v) for v in want]


def test_window_rows_must_cover_the_stride():
    with pytest.raises(ValueError, match=r"rows must be an integer >= kernel \(1\) and >= stride \(2\)"):
        WindowGenerator(1, 6, 5, 1, 2, 0, rows=1)


@pytest.mark.parametrize("shape,folding,options,e1_fifo", [
    ((3, 5, 7, 9, 2, 3), Folding(1, 7, 3), None, 0), ((4, 2, 2, 4, 1, 1), None, None, 0),
    ((3, 5, 7, 9, 2, 3), Folding(1, 1, 1), {"requant": "serial"}, 7),     # the "small" style, + e1 FIFO
    ((4, 2, 2, 4, 1, 1), Folding(1, 1, 1), {"requant": "serial"}, 0)])
def test_tiny_fire_matches_golden(shape, folding, options, e1_fifo):
    bundle, images = random_fire_bundle(*shape, seed=5, calib_images=2)
    want = intref.run(bundle, images)["fire"].reshape(-1)
    beats = _beats(images[0]) + _beats(images[1])
    out, _ = run_stream(Fire.from_bundle(bundle, "fire", folding, options, e1_fifo), beats, want.size, seed=2,
                        bubbles=0.2, stalls=0.3)
    assert [v for v, _, _ in out] == [int(v) for v in want]


@pytest.mark.parametrize("options", [None, {"requant": "serial"}])
def test_codebook_fire_matches_golden(options):
    """Fire.from_bundle takes each part's codebook: index ROMs of 2, 3 and
    4 bits (the 3x3 part's indices in im2col order), bit-exact."""
    bundle, images = random_fire_bundle(3, 4, 6, 6, 3, 4, seed=7, calib_images=2)
    coded = coarse_codebooks(bundle, {"fire/squeeze/weight": 2, "fire/expand1x1/weight": 3,
                                      "fire/expand3x3/weight": 4}, seed=8)
    want = intref.run(coded, images)["fire"].reshape(-1)
    assert 0 < np.count_nonzero(want) < want.size
    fire = Fire.from_bundle(coded, "fire", Folding(2, 3, 2) if options is None else Folding(1, 1, 1), options)
    assert [getattr(fire, p).codebook.bits for p in ("squeeze", "expand1x1", "expand3x3")] == [2, 3, 4]
    out, _ = run_stream(fire, _beats(images[0]) + _beats(images[1]), want.size, seed=3, bubbles=0.2, stalls=0.3)
    assert [v for v, _, _ in out] == [int(v) for v in want]


@pytest.mark.parametrize("kwargs,name", [({"height": 0}, "height"), ({"folding": Folding(2, 1, 1)}, "folding.squeeze"),
                                         ({"folding": Folding(1, 1, 2)}, "folding.expand3x3"),
                                         ({"codebooks": (None, None)}, "codebooks must be None or a"),
                                         ({"codebooks": (None, None, Codebook(np.arange(2, dtype=np.int8),
                                                                              np.zeros((9, 5, 1, 1), np.uint8)))},
                                          r"expand3x3 codebook indices have shape \(9, 5, 1, 1\)")])
def test_fire_rejects_bad_parameters(kwargs, name):
    bundle, _ = random_fire_bundle(3, 5, 7, 9, 2, 3, seed=0, calib_images=1)
    parts = [bundle.conv("fire", p) for p in ("squeeze", "expand1x1", "expand3x3")]
    args = dict(height=2, width=3, folding=None) | kwargs
    with pytest.raises(ValueError, match=name):
        Fire(*parts, **args)


def test_balanced_folding_for_fire2():
    f = Folding.balanced(64, 16, 64, 64)
    assert f == Folding(2, 2, 16)
    assert max(f.cycles_per_pixel(64, 16, 64, 64).values()) == 576


def test_fire_input_ready_ignores_output_ready():
    """No combinational path o.ready -> i.ready across the Fire: in every
    cycle of a stalled run, flipping o.ready leaves i.ready unchanged."""
    from amaranth.sim import Simulator
    import random
    bundle, images = random_fire_bundle(3, 2, 2, 3, 3, 4, seed=9, calib_images=1)
    dut = Fire.from_bundle(bundle, "fire")
    flat = images.reshape(-1)
    seen = {0: 0, 1: 0}

    async def tb(ctx):
        rng = random.Random(0)
        n = 0
        for _ in range(3000):
            ctx.set(dut.i.valid, n < flat.size)
            ctx.set(dut.i.payload, {"data": [int(flat[min(n, flat.size - 1)])], "first": n == 0,
                                    "last": n == flat.size - 1})
            ctx.set(dut.o.ready, 0)
            low = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, 1)
            high = ctx.get(dut.i.ready)
            assert low == high
            seen[low] += 1
            ctx.set(dut.o.ready, rng.random() < 0.2)
            _, _, ready, valid = await ctx.tick().sample(dut.i.ready, dut.i.valid)
            n += bool(ready and valid)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert seen[0] and seen[1]          # both states were exercised
