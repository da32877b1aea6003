"""cocotb testbench of ``sim.lib.board_harness.BoardHarness``: the board's whole
path at the pin level.  A host drives requests into ``rx`` bit by bit at the
board's baud rate, a monitor samples ``tx`` mid-bit, and a checker decodes
each reply with ``fpga.protocol`` (the host driver's own parser) and
compares it with the expected answer computed outside the simulation by
``golden.intref``.

The case (``sim.lib.cocotb_run``): ``script`` (JSON) -- ``seed``, ``divisor``,
``timeout_cycles`` and ``steps``, each a request (``tx`` hex bytes,
``ferr_at``: indices of bytes sent with a 0 stop bit) and its expected reply
(``expect``: ``{"status": 0, "cls": c, "sums": [...]}``, ``{"info": [h, w,
c, n]}`` or ``{"status": code}`` for an error).  Every raw reply and the
cycles from the first request bit to the last reply bit go to the result.
"""
from __future__ import annotations

import io
import json
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, FallingEdge, with_timeout

from fpga import protocol
from sim.lib.cocotb_run import load_case, write_result

CLOCK_PS = 41_666               # ~24 MHz, the board's clock (cocotb wants an even period); only cycle counts matter


class UartDriver:
    """The host's transmitter: 8N1, LSB first, one wake-up per bit.  Seeded
    random idle gaps between bytes, as a USB-serial adapter leaves them, so
    the receiver's start-bit hunt is exercised, not only back-to-back bytes."""

    def __init__(self, dut, divisor: int, rng: random.Random, gap_prob: float = 0.1):
        self.dut, self.divisor, self.rng, self.gap_prob = dut, divisor, rng, gap_prob

    async def idle(self, bits: int):
        self.dut.rx.value = 1
        await ClockCycles(self.dut.clk, bits * self.divisor)

    async def send(self, data: bytes, ferr_at=()):
        for k, byte in enumerate(data):
            stop = 0 if k in ferr_at else 1
            for bit in [0, *((byte >> i) & 1 for i in range(8)), stop]:
                self.dut.rx.value = bit
                await ClockCycles(self.dut.clk, self.divisor)
            if not stop:
                # A 0 stop bit holds the line low; the line must go idle
                # before another start bit can be seen.
                await self.idle(2)
            elif self.rng.random() < self.gap_prob:
                await self.idle(self.rng.randint(1, 3))
        self.dut.rx.value = 1


class UartMonitor:
    """The host's receiver: waits for a start edge on ``tx``, samples the
    middle of every bit and collects bytes; a 0 stop bit or a start bit that
    is not low at its middle is recorded as an error (the board must never
    produce either)."""

    def __init__(self, dut, divisor: int):
        self.dut, self.divisor = dut, divisor
        self.buffer = bytearray()
        self.errors: list[str] = []
        self.got_byte = Event()

    async def run(self):
        dut, D = self.dut, self.divisor
        while True:
            await FallingEdge(dut.tx)
            await ClockCycles(dut.clk, D // 2)
            if int(dut.tx.value) != 0:
                self.errors.append(f"glitch on tx at cycle {dut.cycle.value.to_unsigned()}")
                continue
            byte = 0
            for i in range(8):
                await ClockCycles(dut.clk, D)
                byte |= int(dut.tx.value) << i
            await ClockCycles(dut.clk, D)
            if int(dut.tx.value) != 1:
                self.errors.append(f"tx stop bit 0 at cycle {dut.cycle.value.to_unsigned()}")
            self.buffer.append(byte)
            self.got_byte.set()

    def take(self, n: int) -> bytes:
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data


class _BufferPort:
    """A pyserial-like port over the bytes received so far, so
    ``protocol.read_reply`` can tell a complete reply from a partial one:
    a short read means "wait for more"."""

    def __init__(self, data: bytes):
        self.stream, self.short = io.BytesIO(data), False

    def read(self, n: int) -> bytes:
        data = self.stream.read(n)
        self.short |= len(data) < n
        return data


def parse_reply(data: bytes):
    """``(consumed, decoded)`` if ``data`` starts with a complete reply, else
    None.  ``decoded`` is what ``protocol.read_reply`` returns (``Result`` or
    ``Info``) or the ``LinkError`` it raises."""
    port = _BufferPort(data)
    try:
        decoded = protocol.read_reply(port)
    except protocol.LinkError as e:
        decoded = e
    if port.short:
        return None
    return port.stream.tell(), decoded


class ReplyChecker:
    """Compares one raw reply with its expectation exactly: an OK reply's
    class and every int32 sum, an info reply's shape, an error reply's
    bytes (sync, status, CRC)."""

    @staticmethod
    def check(raw: bytes, expect: dict) -> list[str]:
        parsed = parse_reply(raw)
        if parsed is None:
            return [f"incomplete reply {raw.hex()}"]
        used, decoded = parsed
        errors = [f"{len(raw) - used} stray bytes after the reply"] if used != len(raw) else []
        if "info" in expect:
            h, w, c, n = expect["info"]
            want = protocol.Info(shape=(h, w, c), num_classes=n)
            if decoded != want:
                errors.append(f"info query: got {decoded!r}, want {want!r}")
        elif expect["status"] == protocol.Status.OK:
            if not isinstance(decoded, protocol.Result):
                return errors + [f"image: got {decoded!r}, want an OK result"]
            want_sums = [int(s) for s in expect["sums"]]
            if len(decoded.sums) != len(want_sums):
                errors.append(f"{len(decoded.sums)} class sums, want {len(want_sums)}")
            for k, (got, want) in enumerate(zip(decoded.sums, want_sums)):
                if got != want:
                    errors.append(f"class {k} sum {got}, want {want}")
            if decoded.cls != int(expect["cls"]):
                errors.append(f"class {decoded.cls}, want {expect['cls']}")
        else:
            status = bytes([expect["status"]])
            want = protocol.SYNC + status + protocol.crc16(status).to_bytes(2, "big")
            name = protocol.Status.NAMES.get(expect["status"], "?")
            if not isinstance(decoded, protocol.LinkError) or raw[:used] != want:
                errors.append(f"{name}: got {raw[:used].hex()} ({decoded!r}), want {want.hex()}")
        return errors


async def reset(dut, cycles: int = 4):
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0


@cocotb.test()
async def board_answers_over_uart(dut):
    script = json.loads(str(load_case()["script"]))
    D = int(script["divisor"])
    cocotb.start_soon(Clock(dut.clk, CLOCK_PS, unit="ps").start())
    await reset(dut)
    driver = UartDriver(dut, D, random.Random(script["seed"]))
    monitor = UartMonitor(dut, D)
    cocotb.start_soon(monitor.run())
    await driver.idle(20)

    errors: list[str] = []
    replies, cycles = [], []
    for n, step in enumerate(script["steps"]):
        start = dut.cycle.value.to_unsigned()
        await driver.send(bytes.fromhex(step["tx"]), set(step.get("ferr_at", ())))

        async def reply():
            while (parsed := parse_reply(bytes(monitor.buffer))) is None:
                monitor.got_byte.clear()
                await monitor.got_byte.wait()
            return monitor.take(parsed[0])

        try:
            raw = await with_timeout(reply(), script["timeout_cycles"] * CLOCK_PS, "ps")
        except TimeoutError:
            raw = monitor.take(len(monitor.buffer))
            errors.append(f"step {n} ({step['name']}): no complete reply within {script['timeout_cycles']} "
                          f"cycles, got {raw.hex()}")
            break
        cycles.append(dut.cycle.value.to_unsigned() - start)
        replies.append(raw.hex())
        errors += [f"step {n} ({step['name']}): {e}" for e in ReplyChecker.check(raw, step["expect"])]
        await driver.idle(2)

    # After the last reply the link must be idle (hunting for sync) and
    # silent: nothing queued, no half-sent byte.
    await ClockCycles(dut.clk, 30 * D)
    if monitor.buffer:
        errors.append(f"stray bytes after the last reply: {bytes(monitor.buffer).hex()}")
    if int(dut.busy.value) != 0:
        errors.append("link still busy after the last reply")
    errors += monitor.errors
    write_result({"passed": not errors, "message": "\n".join(errors[:10]), "replies": replies,
                  "cycles": cycles, "sim_cycles": dut.cycle.value.to_unsigned(),
                  "frame_led": int(dut.frame_led.value), "error_led": int(dut.error_led.value)})
    assert not errors, "\n".join(errors[:10])
