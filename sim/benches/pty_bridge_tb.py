"""cocotb testbench: the simulated board behind a pseudo-terminal.

The test opens a PTY (``os.openpty``), writes its slave's name to
``port_file`` and bridges it to the board's UART pins at the board's baud
rate in simulated time: bytes a program writes to ``/dev/pts/N`` (pyserial,
``python -m fpga.run``) go into ``rx`` bit by bit, back to back as a USB
bridge sends them, and every byte read off ``tx`` mid-bit is written back
to the PTY at once.  It runs until ``stop_file`` appears (or
``max_cycles``), then writes every byte that went each way with the clock
cycle it was complete on, so the test can time replies in board cycles.

The case (``sim.lib.cocotb_run``): ``script`` (JSON) -- ``divisor``,
``port_file``, ``stop_file``, ``max_cycles`` and ``uart`` (``"own"``: the
bit-level host UART here, ``OwnUart``; ``"cocotbext"``: the independent
``cocotbext.uart`` models, with the clock in ns).
"""
from __future__ import annotations

import json
import os
import tty
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import Event, FallingEdge, Timer

from sim.benches.board_uart_tb import CLOCK_PS, reset
from sim.lib.cocotb_run import load_case, write_result

POLL_BYTES = 1              # how often (in byte times) the PTY is polled when the host is quiet


class OwnUart:
    """A bit-level 8N1 host UART written here: bytes back to back as a USB
    bridge sends them, ``tx`` sampled mid-bit.  Every wait is a simulator
    ``Timer`` (a ``ClockCycles`` wakes Python on every edge), so Verilator
    runs freely between bits."""

    def __init__(self, dut, divisor: int):
        self.dut, self.bit_ps = dut, divisor * CLOCK_PS
        self.buffer = bytearray()
        self.got = Event()
        self.errs: list[str] = []
        cocotb.start_soon(self._monitor())

    async def send(self, data: bytes):
        for byte in data:
            for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                self.dut.rx.value = bit
                await Timer(self.bit_ps, unit="ps")

    async def _monitor(self):
        dut = self.dut
        while True:
            await FallingEdge(dut.tx)
            await Timer(self.bit_ps // 2, unit="ps")
            byte = 0
            for i in range(8):
                await Timer(self.bit_ps, unit="ps")
                byte |= int(dut.tx.value) << i
            await Timer(self.bit_ps, unit="ps")
            if int(dut.tx.value) != 1:
                self.errs.append(f"tx stop bit 0 at cycle {dut.cycle.value.to_unsigned()}")
            self.buffer.append(byte)
            self.got.set()

    async def received(self) -> bytes:
        while not self.buffer:
            self.got.clear()
            await self.got.wait()
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def errors(self) -> list[str]:
        return self.errs


class ExtUart:
    """``cocotbext.uart``'s UartSource/UartSink, an implementation this
    project did not write, at the same baud."""

    def __init__(self, dut, divisor: int, clock_hz: float):
        import logging
        from cocotbext.uart import UartSink, UartSource
        baud = round(clock_hz / divisor)
        self.source = UartSource(dut.rx, baud=baud, bits=8, stop_bits=1)
        self.sink = UartSink(dut.tx, baud=baud, bits=8, stop_bits=1)
        for model in (self.source, self.sink):
            model.log.setLevel(logging.WARNING)         # it logs every byte

    async def send(self, data: bytes):
        await self.source.write(data)
        await self.source.wait()

    async def received(self) -> bytes:
        return bytes(await self.sink.read())

    def errors(self) -> list[str]:
        return []


def open_pty(port_file: Path) -> tuple[int, int]:
    """(master, slave) fds; the slave in raw mode and kept open here, so the
    master never reads EIO between two programs' sessions."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    tmp = port_file.with_name(port_file.name + ".tmp")
    tmp.write_text(os.ttyname(slave))
    os.replace(tmp, port_file)
    return master, slave


def read_host(master: int) -> bytes:
    try:
        return os.read(master, 4096)
    except (BlockingIOError, OSError):
        return b""


@cocotb.test()
async def board_behind_a_pty(dut):
    script = json.loads(str(load_case()["script"]))
    D, stop_file, max_cycles = int(script["divisor"]), Path(script["stop_file"]), int(script["max_cycles"])
    cocotb.start_soon(Clock(dut.clk, CLOCK_PS, unit="ps").start())
    await reset(dut)
    uart = (ExtUart(dut, D, 1e12 / CLOCK_PS) if script["uart"] == "cocotbext" else OwnUart(dut, D))
    master, slave = open_pty(Path(script["port_file"]))
    to_board, to_host = [], []          # (cycle, bytes)

    async def host_to_board():
        while not stop_file.exists() and dut.cycle.value.to_unsigned() < max_cycles:
            data = read_host(master)
            if data:
                to_board.append((dut.cycle.value.to_unsigned(), data.hex()))
                await uart.send(data)
            else:
                await Timer(POLL_BYTES * 10 * D * CLOCK_PS, unit="ps")

    async def board_to_host():
        while True:
            data = await uart.received()
            to_host.append((dut.cycle.value.to_unsigned(), data.hex()))
            os.write(master, data)

    cocotb.start_soon(board_to_host())
    await host_to_board()
    await Timer(1, unit="ns")
    os.close(master)
    os.close(slave)
    errors = uart.errors()
    write_result({"passed": not errors, "message": "\n".join(errors[:10]), "to_board": to_board,
                  "to_host": to_host, "sim_cycles": dut.cycle.value.to_unsigned(),
                  "stopped": stop_file.exists()})
    assert not errors, "\n".join(errors[:10])
