"""cocotb testbench of ``sim.lib.fire_harness.FireHarness`` (the Fire between
pixel-wide width converters), in the shape of cocotb's matrix_multiplier
example: a driver, a monitor, a model and a checker.

The case (images, expected output from ``golden.intref``, stimulus) and the
result summary travel through ``sim.lib.cocotb_run.load_case``/``write_result``.  Python wakes only around pixel handshakes
(ReadOnly + edge), never per channel, so Verilator runs free in between.
"""
from __future__ import annotations

import json
import random
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, ReadOnly, RisingEdge, with_timeout

from sim.lib.stimulus import lfsr_seed
from sim.lib.cocotb_run import load_case, write_result


def pixel_words(frames: np.ndarray) -> list[int]:
    """Each pixel (all channels) as one payload word: channel c in bits
    [8c, 8c+8), then first and last of frame."""
    n, h, w, c = frames.shape
    words = []
    for f in range(n):
        pixels = np.ascontiguousarray(frames[f]).reshape(h * w, c)
        for p in range(h * w):
            word = int.from_bytes(pixels[p].tobytes(), "little")
            word |= int(p == 0) << (8 * c) | int(p == h * w - 1) << (8 * c + 1)
            words.append(word)
    return words


class PixelDriver:
    """Drives pixel words into ``i`` with seeded random pauses."""

    def __init__(self, dut, rng: random.Random, bubbles: float):
        self.dut, self.rng, self.bubbles = dut, rng, bubbles
        self.sent = 0

    async def send(self, words):
        dut = self.dut
        for word in words:
            if self.bubbles and self.rng.random() < self.bubbles:
                dut.i__valid.value = 0
                await ClockCycles(dut.clk, self.rng.randint(1, 16))
            dut.i__payload.value = word
            dut.i__valid.value = 1
            while True:             # wake only when ready can have changed
                await ReadOnly()
                if dut.i__ready.value == 1:
                    break
                await RisingEdge(dut.i__ready)
            await RisingEdge(dut.clk)
            self.sent += 1
        dut.i__valid.value = 0


class WordMonitor:
    """Collects payload words from ``o`` (with the cycle counter) and hands
    them to ``callback``; seeded random back-pressure."""

    def __init__(self, dut, rng: random.Random, stalls: float, callback):
        self.dut, self.rng, self.stalls, self.callback = dut, rng, stalls, callback

    async def run(self):
        dut = self.dut
        dut.o__ready.value = 1
        while True:
            await ReadOnly()
            if dut.o__valid.value != 1:
                await RisingEdge(dut.o__valid)
                continue
            word = dut.o__payload.value.to_unsigned()
            cycle = dut.cycle.value.to_unsigned()
            await RisingEdge(dut.clk)
            self.callback(word, cycle)
            if self.stalls and self.rng.random() < self.stalls:
                dut.o__ready.value = 0
                await ClockCycles(dut.clk, self.rng.randint(1, 16))
                dut.o__ready.value = 1


class FireModel:
    """The expected output stream: golden.intref's Fire output, pixel by pixel."""

    def __init__(self, expected: np.ndarray):
        self.expected = expected
        self.channels = expected.shape[3]
        self.pixels_per_frame = expected.shape[1] * expected.shape[2]
        self.words = pixel_words(expected)


class Checker:
    """Compares every received word with the model, in order, exactly."""

    def __init__(self, model: FireModel, max_errors: int = 10):
        self.model = model
        self.received = 0
        self.errors: list[str] = []
        self.max_errors = max_errors
        self.frame_end_cycles: list[int] = []
        self.done = Event()

    def observe(self, word: int, cycle: int) -> None:
        n = self.received
        self.received += 1
        want = self.model.words[n] if n < len(self.model.words) else None
        if word != want and len(self.errors) < self.max_errors:
            self.errors.append(self.describe(n, word, want))
        if (word >> (8 * self.model.channels + 1)) & 1:
            self.frame_end_cycles.append(cycle)
        if self.received == len(self.model.words):
            self.done.set()

    def describe(self, n, word, want) -> str:
        if want is None:
            return f"unexpected extra word #{n}"
        c = self.model.channels
        frame, pixel = divmod(n, self.model.pixels_per_frame)
        bad = [(ch, (word >> 8 * ch) & 255, (want >> 8 * ch) & 255) for ch in range(c)
               if (word >> 8 * ch) & 255 != (want >> 8 * ch) & 255]
        flags = ((word >> 8 * c) & 3, (want >> 8 * c) & 3)
        return (f"frame {frame} pixel {pixel}: {len(bad)} wrong channels, first (channel, got, want) "
                f"{bad[:4]}; first/last flags got {flags[0]:02b} want {flags[1]:02b}")


async def reset(dut, cycles: int = 3):
    dut.i__valid.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


def _load_case():
    case = load_case()
    return case["images"], case["expected"], json.loads(str(case["stimulus"]))


@cocotb.test()
async def fire_stream_is_bit_exact(dut):
    images, expected, st = _load_case()
    rng = random.Random(st["seed"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.in_stall.value = st["in_stall"]
    dut.out_stall.value = st["out_stall"]
    dut.in_seed.value = lfsr_seed(st["seed"] * 2 + 1)
    dut.out_seed.value = lfsr_seed(st["seed"] * 2 + 2)
    dut.o__ready.value = 0
    await reset(dut)

    words_in = pixel_words(images)
    per_frame = len(words_in) // images.shape[0]
    if st["reset_mid_frame"]:
        # Send half a frame (and let the design chew on it), then reset.
        driver = PixelDriver(dut, rng, st["py_bubbles"])
        drive = cocotb.start_soon(driver.send(words_in[:per_frame]))
        monitor = cocotb.start_soon(WordMonitor(dut, rng, st["py_stalls"], lambda w, c: None).run())
        while driver.sent < max(1, per_frame // 2):
            await ClockCycles(dut.clk, 64)
        await ClockCycles(dut.clk, rng.randint(0, 200))
        drive.cancel()
        monitor.cancel()
        dut.o__ready.value = 0
        await reset(dut)

    model = FireModel(expected)
    checker = Checker(model)
    t_start, cycle_start = time.perf_counter(), dut.cycle.value.to_unsigned()
    cocotb.start_soon(WordMonitor(dut, rng, st["py_stalls"], checker.observe).run())
    cocotb.start_soon(PixelDriver(dut, rng, st["py_bubbles"]).send(words_in))
    timeout = st["timeout_cycles"] or 10_000_000
    try:
        await with_timeout(checker.done.wait(), timeout * 10, "ns")
    except TimeoutError:   # cocotb 2 raises SimTimeoutError, a TimeoutError
        checker.errors.append(f"timeout: {checker.received} of {len(model.words)} pixels after {timeout} cycles")
    run_seconds = time.perf_counter() - t_start
    run_cycles = dut.cycle.value.to_unsigned() - cycle_start
    await ClockCycles(dut.clk, 50)          # nothing may follow the last frame
    if checker.received > len(model.words):
        checker.errors.append(f"{checker.received - len(model.words)} extra pixels after the last frame")
    ends = [0] + checker.frame_end_cycles      # the cycle counter restarts at reset
    result = {"passed": not checker.errors, "beats": checker.received,
              "cycles_per_frame": [b - a for a, b in zip(ends, ends[1:])],
              "sim_cycles": int(dut.cycle.value.to_unsigned()),
              "run_cycles": int(run_cycles), "run_seconds": run_seconds,
              "message": "\n".join(checker.errors)}
    write_result(result)
    assert not checker.errors, "\n".join(checker.errors)
