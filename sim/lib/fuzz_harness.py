"""The link fuzzer's simulation top: ``fpga.board_core.BoardCore`` (the
board's UART + host link + accelerator) with a *line player* on its RX pin
and a host receiver on its TX pin, so the cocotb testbench
(``sim.benches.board_fuzz_tb``) wakes once per command, not once per bit.

Line-player commands (``uint32``, written into a FIFO by the testbench;
``encode_*`` below):

* ``BYTE``: one 8N1 byte with a given stop bit (0: a framing error) and
  bit period in 1/16 cycles (so a host ±2 % off the board's baud, or a
  burst at another baud, is exact on average);
* ``LOW`` / ``HIGH``: hold the line low (a break) or high (silence) for N
  cycles;
* ``CHECK``: wait until the link has been idle (``busy`` low, its TX line
  high) for ``GUARD`` cycles, then report the cycles it took (the recovery time
  after the disturbance before it) to the host FIFO.

Host FIFO tokens (``uint32``): ``tag << 30 | value``; tag 0: a reply byte
received from TX (decoded by a ``UARTRx`` at the board's divisor), tag 1:
a recovery time in cycles (saturating at ``2**24 - 1``: the link hung).

Latency, throughput, back-pressure: a test harness, not a block; the
player holds its command while the FIFO is empty, the host FIFO drops
nothing as long as the testbench drains it faster than 64 tokens arrive.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from fpga.board_core import BoardCore
from fpga.uart import UARTRx

__all__ = ["FuzzHarness", "BYTE", "LOW", "HIGH", "CHECK", "GUARD", "encode_byte", "encode_hold",
           "encode_check", "SATURATED"]

BYTE, LOW, HIGH, CHECK = 0, 1, 2, 3
# idle cycles a CHECK waits for beyond the link going idle: more than a byte
# time, so a byte the receiver was still assembling has come out
GUARD = 128
SATURATED = (1 << 24) - 1


def encode_byte(value: int, period16: int, stop: int = 1) -> int:
    if not 16 <= period16 < 1 << 12:
        raise ValueError(f"bit period must be 1..255 cycles (16ths: 16..4095), got {period16}")
    return BYTE << 30 | period16 << 9 | (stop & 1) << 8 | (value & 0xFF)


def encode_hold(level: int, cycles: int) -> int:
    if not 1 <= cycles < 1 << 24:
        raise ValueError(f"hold must be 1..2**24-1 cycles, got {cycles}")
    return (HIGH if level else LOW) << 30 | cycles


def encode_check() -> int:
    return CHECK << 30


class FuzzHarness(wiring.Component):
    """``accelerator`` behind the board core at ``clock_hz``/``baud``/``timeout_s``."""

    def __init__(self, accelerator, *, clock_hz: float, baud: int, timeout_s: float):
        self.core = BoardCore(accelerator, clock_hz=clock_hz, baud=baud, timeout_s=timeout_s, image_ram="block")
        self.divisor, self.timeout_cycles = self.core.divisor, self.core.timeout_cycles
        super().__init__({"cmd_data": In(32), "cmd_en": In(1), "cmd_rdy": Out(1),
                          "host_data": Out(32), "host_rdy": Out(1), "host_en": In(1),
                          "pending": Out(1), "cycle": Out(32)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.cmds = cmds = SyncFIFOBuffered(width=32, depth=256)
        m.submodules.host = host = SyncFIFOBuffered(width=32, depth=64)
        m.submodules.host_rx = host_rx = UARTRx(self.divisor)
        m.d.sync += self.cycle.eq(self.cycle + 1)
        m.d.comb += [cmds.w_data.eq(self.cmd_data), cmds.w_en.eq(self.cmd_en), self.cmd_rdy.eq(cmds.w_rdy),
                     self.host_data.eq(host.r_data), self.host_rdy.eq(host.r_rdy), host.r_en.eq(self.host_en),
                     host_rx.rx.eq(core.tx), host_rx.o.ready.eq(1)]
        line = Signal(init=1)
        m.d.comb += core.rx.eq(line)
        self._player(m, cmds, host, host_rx, line)
        return m

    def _player(self, m, cmds, host, host_rx, line):
        cmd = Signal(32)
        kind = cmd[30:32]
        period = cmd[9:21]
        frame = Signal(10)
        bit = Signal(range(11))
        phase = Signal(16)
        left = Signal(24)
        idle_for = Signal(range(GUARD + 1))
        elapsed = Signal(24)
        report = Signal()
        m.d.comb += [host.w_en.eq(report | host_rx.o.valid),
                     host.w_data.eq(Mux(report, Cat(elapsed, 0, 0, 0, 0, 0, 0, 1, 0), host_rx.o.payload.data))]
        with m.FSM():
            with m.State("FETCH"):
                m.d.sync += line.eq(1)
                m.d.comb += cmds.r_en.eq(1)
                with m.If(cmds.r_rdy):
                    m.d.sync += [cmd.eq(cmds.r_data), bit.eq(0), phase.eq(0), left.eq(cmds.r_data[:24]),
                                 frame.eq(Cat(0, cmds.r_data[:9])), idle_for.eq(0), elapsed.eq(0)]
                    m.next = "RUN"
                m.d.comb += self.pending.eq(0)
            with m.State("RUN"):
                m.d.comb += self.pending.eq(1)
                with m.Switch(kind):
                    with m.Case(BYTE):
                        m.d.sync += line.eq(frame.bit_select(bit, 1))
                        # the bit ends when the phase (16ths of a cycle) reaches its period
                        with m.If(phase + 16 >= period):
                            m.d.sync += [phase.eq(phase + 16 - period), bit.eq(bit + 1)]
                            with m.If(bit == 9):
                                m.next = "FETCH"
                        with m.Else():
                            m.d.sync += phase.eq(phase + 16)
                    with m.Case(LOW, HIGH):
                        m.d.sync += [line.eq(kind == HIGH), left.eq(left - 1)]
                        with m.If(left <= 1):
                            m.next = "FETCH"
                    with m.Case(CHECK):
                        m.d.sync += line.eq(1)
                        with m.If(elapsed != SATURATED):
                            m.d.sync += elapsed.eq(elapsed + 1)
                        # idle: the link not busy and its TX line high (no reply byte in flight)
                        with m.If(self.core.busy | ~self.core.tx):
                            m.d.sync += idle_for.eq(0)
                        with m.Elif(idle_for != GUARD):
                            m.d.sync += idle_for.eq(idle_for + 1)
                        with m.If(((idle_for == GUARD) | (elapsed == SATURATED)) & ~host_rx.o.valid):
                            m.d.comb += report.eq(1)
                            m.next = "FETCH"
