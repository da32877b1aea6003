"""Driving ``rtl_gen`` stream components in Amaranth's own simulator (unit
tests of small blocks; the full Fire runs under cocotb + Verilator)."""
from __future__ import annotations

import random

from amaranth.sim import Simulator

__all__ = ["run_stream"]


def one_lane(payload) -> tuple[int, int, int]:
    return int(payload.data[0]), int(payload.first), int(payload.last)


def run_stream(dut, beats, n_out: int, seed: int = 0, bubbles: float = 0.0, stalls: float = 0.0,
               timeout: int = 200_000, vcd: str | None = None, read=one_lane, write=lambda v: [v]):
    """Feed ``beats`` [(value, first, last)] into ``dut.i`` (one lane) and
    collect ``n_out`` output beats from ``dut.o`` as ``read(payload)``
    (input data is set to ``write(value)``: one lane by default)
    (default (value, first, last)), with seeded random input bubbles and
    output stalls.  Returns (beats, cycles)."""
    out: list[tuple[int, int, int]] = []
    cycles = [0]

    async def source(ctx):
        rng = random.Random(seed)
        for value, first, last in beats:
            while rng.random() < bubbles:
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, {"data": write(value), "first": first, "last": last})
            while True:
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                if ready:
                    break
        ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        rng = random.Random(seed + 1)
        while len(out) < n_out:
            ready = rng.random() >= stalls
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            cycles[0] += 1
            if cycles[0] > timeout:
                raise TimeoutError(f"only {len(out)} of {n_out} beats after {timeout} cycles")
            if valid and ready:
                out.append(read(payload))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return out, cycles[0]
