"""fpga.uart in Amaranth's simulator: exact TX bit timing, TX->RX loopback of
seeded random bytes at several divisors, framing errors, glitches, overrun."""
import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from fpga.uart import UARTRx, UARTTx


def _frame_bits(byte, stop=1):
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


class _Loop:
    def __init__(self, divisor):
        self.m = Module()
        self.m.submodules.tx = self.tx = UARTTx(divisor)
        self.m.submodules.rx = self.rx = UARTRx(divisor)
        self.m.d.comb += self.rx.rx.eq(self.tx.tx)


@pytest.mark.parametrize("divisor", [4, 5, 12, 13, 104])
def test_loopback_random_bytes(divisor):
    rng = random.Random(divisor)
    n = 40 if divisor < 100 else 8
    sent = [rng.randrange(256) for _ in range(n)]
    lp = _Loop(divisor)
    got = []

    async def source(ctx):
        for b in sent:
            ctx.set(lp.tx.i.valid, 1)
            ctx.set(lp.tx.i.payload, b)
            while not (await ctx.tick().sample(lp.tx.i.ready))[2]:
                pass
        ctx.set(lp.tx.i.valid, 0)

    async def sink(ctx):
        ctx.set(lp.rx.o.ready, 1)
        for _ in range((n + 2) * 10 * divisor + 100):
            _, _, valid, p, ovr = await ctx.tick().sample(lp.rx.o.valid, lp.rx.o.payload, lp.rx.overrun)
            assert not ovr
            if valid:
                got.append((int(p.data), int(p.ferr)))
            if len(got) == n:
                return

    sim = Simulator(lp.m)
    sim.add_clock(1e-6)
    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    sim.run()
    assert got == [(b, 0) for b in sent]


@pytest.mark.parametrize("divisor", [4, 7, 12])
def test_tx_bit_timing_back_to_back(divisor):
    """Each bit lasts exactly `divisor` cycles and bytes follow with no gap."""
    dut = UARTTx(divisor)
    sent = [0x55, 0x00, 0xFF, 0xA3]
    line = []

    async def tb(ctx):
        i = 0
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload, sent[0])
        for _ in range(len(sent) * 10 * divisor + 5):
            _, _, ready, tx = await ctx.tick().sample(dut.i.ready, dut.tx)
            line.append(tx)
            if ready and i < len(sent):
                i += 1
                if i < len(sent):
                    ctx.set(dut.i.payload, sent[i])
                else:
                    ctx.set(dut.i.valid, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    # The sampled values lag the register by one tick; the first sample is the idle line.
    assert line[0] == 1
    want = [bit for b in sent for bit in _frame_bits(b) for _ in range(divisor)]
    assert line[1:1 + len(want)] == want
    assert all(v == 1 for v in line[1 + len(want):])


def _collect_rx(dut, drive, cycles):
    """Run ``drive`` (an async testbench setting dut.rx) for ``cycles`` and
    collect (data, ferr) of every byte the receiver emits."""
    got = []

    async def sink(ctx):
        ctx.set(dut.o.ready, 1)
        for _ in range(cycles):
            _, _, valid, p = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                got.append((int(p.data), int(p.ferr)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive, background=True)
    sim.add_testbench(sink)
    sim.run()
    return got


def _drive_rx(dut, bit_lists, divisor, tail=3):
    """Drive dut.rx with lists of per-bit values (each `divisor` cycles)."""
    async def drive(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(divisor)
        for bits in bit_lists:
            for bit in bits:
                ctx.set(dut.rx, bit)
                await ctx.tick().repeat(divisor)
        ctx.set(dut.rx, 1)

    total = sum(len(b) for b in bit_lists) + tail * 10 + 1
    return _collect_rx(dut, drive, total * divisor)


@pytest.mark.parametrize("divisor", [4, 12])
def test_rx_framing_error_then_recovers(divisor):
    dut = UARTRx(divisor)
    bits = [_frame_bits(0x3C), _frame_bits(0x81, stop=0), [1, 1], _frame_bits(0x7E)]
    assert _drive_rx(dut, bits, divisor) == [(0x3C, 0), (0x81, 1), (0x7E, 0)]


def test_rx_break_reports_one_error():
    """A line held low for many byte times gives one framing error, then the
    next byte after it returns high is received cleanly."""
    dut = UARTRx(8)
    bits = [[0] * 35, [1, 1], _frame_bits(0x42)]
    assert _drive_rx(dut, bits, 8) == [(0x00, 1), (0x42, 0)]


def test_rx_ignores_glitch():
    dut = UARTRx(12)

    async def drive(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(20)
        ctx.set(dut.rx, 0)           # a 3-cycle low pulse: not a start bit
        await ctx.tick().repeat(3)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(30)
        for bit in _frame_bits(0x99):
            ctx.set(dut.rx, bit)
            await ctx.tick().repeat(12)
        ctx.set(dut.rx, 1)

    got = _collect_rx(dut, drive, 300)
    assert got == [(0x99, 0)]


def test_rx_overrun_drops_and_flags():
    dut = UARTRx(4)
    events = []

    async def drive(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(4)
        for b in (0x11, 0x22):
            for bit in _frame_bits(b):
                ctx.set(dut.rx, bit)
                await ctx.tick().repeat(4)

    async def watch(ctx):
        ctx.set(dut.o.ready, 0)         # nobody takes the first byte
        for _ in range(120):
            _, _, ovr = await ctx.tick().sample(dut.overrun)
            if ovr:
                events.append("overrun")
        assert ctx.get(dut.o.valid) and ctx.get(dut.o.payload.data) == 0x11

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive, background=True)
    sim.add_testbench(watch)
    sim.run()
    assert events == ["overrun"]


@pytest.mark.parametrize("bad", [0, 3, 2.5, True, "12"])
def test_divisor_validated(bad):
    for cls in (UARTRx, UARTTx):
        with pytest.raises(ValueError, match="divisor"):
            cls(bad)
