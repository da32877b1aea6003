"""cocotb testbench of ``sim.lib.dual_mult_harness.DualMultHarness``: for each
``stall`` setting of the case, reset, then collect the 65 536 products of
both lanes batch by batch (Python wakes only when ``batch_seq`` changes).

Writes ``products_<n>`` (65 536 x 2 int16, in pair order) per run to the
result arrays and, per run, the cycles taken and the ``captured`` count a
few cycles after the last batch to the result; the comparison with the
integer products is the pytest side's (``sim/tests/test_dual_mult.py``).
"""
from __future__ import annotations

import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, with_timeout

from sim.lib.cocotb_run import load_case, write_result
from sim.lib.dual_mult_harness import BATCH, PAIRS, unpack_batch

PERIOD_NS = 10


async def collect(dut, stall: int) -> tuple[np.ndarray, dict]:
    dut.stall.value = stall
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    start_ns = cocotb.utils.get_sim_time("ns")
    wall = time.monotonic()
    products = np.empty((PAIRS, 2), np.int16)
    for b in range(PAIRS // BATCH):
        # a batch fills in BATCH enabled cycles: allow 256 times that
        await with_timeout(dut.batch_seq.value_change, 256 * BATCH * PERIOD_NS, "ns")
        products[b * BATCH:(b + 1) * BATCH] = unpack_batch(dut.batch.value.to_unsigned())
    cycles = round((cocotb.utils.get_sim_time("ns") - start_ns) / PERIOD_NS)
    await ClockCycles(dut.clk, 64)          # long enough for any surplus product to show
    summary = {"stall": stall, "cycles": cycles, "seconds": time.monotonic() - wall,
               "batches": dut.batch_seq.value.to_unsigned(), "captured": dut.captured.value.to_unsigned()}
    return products, summary


@cocotb.test()
async def all_pairs(dut):
    case = load_case()
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    runs, arrays = [], {}
    for n, stall in enumerate(int(s) for s in case["stalls"]):
        arrays[f"products_{n}"], summary = await collect(dut, stall)
        runs.append(summary)
    write_result({"passed": True, "runs": runs}, arrays)
