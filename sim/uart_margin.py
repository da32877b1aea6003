"""How far off a host's baud clock may be for ``fpga.uart.UARTRx``: a
benchmark in Amaranth's simulator, not a timed test.

    python -m sim.uart_margin [--divisors 4,6,9,12] [--bytes 200]

A host transmitter whose bit lasts ``divisor * (1 + error)`` clock cycles
(the board's clock against a host clock off by ``error``) drives the
receiver's pin at times that are not aligned to the board's clock (a seeded
random phase), sending seeded random bytes back to back -- the worst case:
every start bit right after a stop bit, so a slow host's stop bit runs into
the receiver's hunt for the next one.  ``received_ok`` says whether every
byte came through with no framing error; ``margin`` finds the largest
errors, in steps of 0.5 %, at which that holds on both sides.

The iCEBreaker's FT2232H makes 12 MHz / n exactly (6, 4, 3 Mbaud ...); the
board's 36 MHz engine clock gives 6 cycles per bit at 6 Mbaud, 9 at 4 and 12
at 3 (docs/host-link.md has the figures this prints).
"""
from __future__ import annotations

import argparse
import random

from amaranth.sim import Simulator

from fpga.uart import UARTRx

__all__ = ["received_ok", "margin"]

CLOCK_S = 1e-6                  # one board clock cycle in the simulation


def received_ok(divisor: int, error: float, n_bytes: int = 200, seed: int = 1) -> bool:
    """Whether ``n_bytes`` back-to-back bytes sent ``error`` (e.g. +0.02)
    slow/fast of ``divisor`` cycles per bit all arrive intact."""
    rng = random.Random(seed)
    sent = [rng.randrange(256) for _ in range(n_bytes)]
    bit_s = divisor * (1 + error) * CLOCK_S
    dut = UARTRx(divisor)
    got: list[tuple[int, int]] = []

    async def host(ctx):
        ctx.set(dut.rx, 1)
        await ctx.delay((3 * divisor + rng.random()) * CLOCK_S)
        for byte in sent:
            for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                ctx.set(dut.rx, bit)
                await ctx.delay(bit_s)

    async def sink(ctx):
        ctx.set(dut.o.ready, 1)
        cycles = int((n_bytes + 3) * 10 * divisor * (1 + abs(error))) + 10 * divisor
        for _ in range(cycles):
            _, _, valid, p = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                got.append((int(p.data), int(p.ferr)))

    sim = Simulator(dut)
    sim.add_clock(CLOCK_S)
    sim.add_testbench(host, background=True)
    sim.add_testbench(sink)
    sim.run()
    return got == [(b, 0) for b in sent]


def margin(divisor: int, n_bytes: int = 200, step: float = 0.005, limit: float = 0.10) -> tuple[float, float]:
    """(most negative, most positive) host clock error, in ``step``s up to
    ``limit``, at which ``received_ok`` holds (and at every smaller step)."""
    found = []
    for sign in (-1, 1):
        k = 0
        while (k + 1) * step <= limit + 1e-12 and received_ok(divisor, sign * (k + 1) * step, n_bytes):
            k += 1
        found.append(sign * k * step)
    return found[0], found[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.uart_margin", description=__doc__.splitlines()[0])
    ap.add_argument("--divisors", default="4,6,9,12", help="cycles per bit to try (default 4,6,9,12)")
    ap.add_argument("--bytes", type=int, default=200, help="back-to-back bytes per try (default 200)")
    args = ap.parse_args(argv)
    for divisor in (int(d) for d in args.divisors.split(",")):
        low, high = margin(divisor, args.bytes)
        print(f"divisor {divisor:3d}: host clock error {low:+.1%} .. {high:+.1%} received intact")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
