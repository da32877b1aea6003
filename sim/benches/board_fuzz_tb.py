"""cocotb testbench of ``sim.lib.fuzz_harness.FuzzHarness``: streams the case's
line-player commands (``cmds``, uint32) into the player and collects the
host tokens (reply bytes and recovery times) until every ``CHECK`` has
reported, or no token has come for ``hang_cycles`` (the link hung).

Both handshakes are driven and sampled on the falling clock edge, where
every register has settled; when there is nothing to move the testbench
sleeps ``IDLE_NAP`` cycles, so Python wakes about once per command or
token, not once per bit.  The decoding and judging is done outside, by
``sim.lib.link_fuzz``.
"""
from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer

from sim.lib.cocotb_run import load_case, write_result

CLOCK_NS = 10           # only cycle counts matter
IDLE_NAP = 400          # cycles; the host FIFO (64 tokens, one per >= 40 cycles) cannot fill in one nap


@cocotb.test()
async def fuzz_link(dut):
    case = load_case()
    cmds = [int(c) for c in case["cmds"]]
    checks = int(case["checks"])
    hang_cycles = int(case["hang_cycles"])
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    dut.cmd_en.value = 0
    dut.host_en.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0

    tokens: list[int] = []
    sent = reports = 0
    last_token_cycle = 0
    hung = False
    while reports < checks:
        await FallingEdge(dut.clk)
        cycle = dut.cycle.value.to_unsigned()
        moved = False
        if sent < len(cmds) and dut.cmd_rdy.value:
            dut.cmd_data.value = cmds[sent]
            dut.cmd_en.value = 1
            sent += 1
            moved = True
        else:
            dut.cmd_en.value = 0
        if dut.host_rdy.value:
            token = dut.host_data.value.to_unsigned()
            tokens.append(token)
            reports += token >> 30 == 1
            dut.host_en.value = 1
            last_token_cycle = cycle
            moved = True
        else:
            dut.host_en.value = 0
        if cycle - last_token_cycle > hang_cycles:
            hung = True
            break
        if not moved:
            # a Timer is one wake-up; ClockCycles would wake Python every cycle
            await Timer(IDLE_NAP * CLOCK_NS, unit="ns")
    dut.cmd_en.value = 0
    dut.host_en.value = 0
    write_result({"passed": not hung, "message": f"no host token for {hang_cycles} cycles: the link hung" if hung else "",
                  "sent": sent, "sim_cycles": dut.cycle.value.to_unsigned()},
                 {"tokens": np.array(tokens, dtype=np.uint32)})
