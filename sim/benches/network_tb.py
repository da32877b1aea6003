"""cocotb testbench of ``sim.lib.network_harness.NetworkHarness``: images in,
class sums and argmax out; driver, monitor, model and checker as separate
small classes (cocotb's matrix_multiplier example).

The case (``sim.lib.cocotb_run``): ``images`` uint8 (N, H, W, C), optionally
``expected_sums`` int (N, classes) and ``expected_classes`` (N,) from
``golden.intref``, and ``stimulus`` (JSON).  Whatever the checker says, the
received sums, classes and per-frame end cycles go to the result arrays, so
``golden/compare.py`` can report and dump them.
"""
from __future__ import annotations

import json
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, with_timeout

from sim.lib.stimulus import lfsr_seed
from sim.lib.cocotb_run import load_case, report_progress, write_result
from sim.benches.fire_tb import PixelDriver, WordMonitor, pixel_words, reset


def decode(word: int, class_bits: int) -> tuple[int, int, int, int]:
    """(sum, argmax, first, last) of a class beat (StructLayout bit order)."""
    value = word & 0xFFFF_FFFF
    value -= (value >> 31) << 32
    argmax = (word >> 32) & ((1 << class_bits) - 1)
    return value, argmax, (word >> (32 + class_bits)) & 1, (word >> (33 + class_bits)) & 1


class Recorder:
    """Assembles beats into per-frame sums/argmax and checks against the
    model (if given) exactly: every sum, the argmax, the framing."""

    def __init__(self, frames: int, classes: int, expected_sums=None, expected_classes=None):
        self.frames, self.classes = frames, classes
        self.expected_sums, self.expected_classes = expected_sums, expected_classes
        self.sums = np.zeros((frames, classes), dtype=np.int64)
        self.argmax = np.full(frames, -1, dtype=np.int64)
        self.end_cycles: list[int] = []
        self.received = 0
        self.errors: list[str] = []
        self.done = Event()

    def observe(self, beat, cycle):
        value, argmax, first, last = beat
        n = self.received
        self.received += 1
        frame, cls = divmod(n, self.classes)
        if frame >= self.frames:
            self.errors.append(f"unexpected extra beat #{n}")
            return
        self.sums[frame, cls] = value
        if first != (cls == 0) or last != (cls == self.classes - 1):
            self.errors.append(f"frame {frame} class {cls}: first/last {first}{last} wrong")
        if last:
            self.argmax[frame] = argmax
            self.end_cycles.append(cycle)
            self._check_frame(frame)
            report_progress()
        if self.received == self.frames * self.classes:
            self.done.set()

    def _check_frame(self, frame):
        if self.expected_sums is not None and not np.array_equal(self.sums[frame], self.expected_sums[frame]):
            bad = np.flatnonzero(self.sums[frame] != self.expected_sums[frame])
            self.errors.append(f"frame {frame}: {bad.size} class sums differ, first: class {bad[0]} got "
                               f"{self.sums[frame, bad[0]]} want {self.expected_sums[frame, bad[0]]}")
        if self.expected_classes is not None and self.argmax[frame] != self.expected_classes[frame]:
            self.errors.append(f"frame {frame}: argmax {self.argmax[frame]}, want {self.expected_classes[frame]}")


@cocotb.test()
async def network_is_bit_exact(dut):
    case = load_case()
    st = json.loads(str(case["stimulus"]))
    images = case["images"]
    classes = int(case["classes"])
    class_bits = max(1, (classes - 1).bit_length())
    rng = random.Random(st["seed"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.in_stall.value = st.get("in_stall", 0)
    dut.in_seed.value = lfsr_seed(st["seed"] * 2 + 1)
    dut.o__ready.value = 0
    await reset(dut)
    words = pixel_words(images)
    per_frame = len(words) // images.shape[0]
    if st.get("reset_mid_frame"):
        driver = PixelDriver(dut, rng, st.get("py_bubbles", 0.0))
        drive = cocotb.start_soon(driver.send(words[:per_frame]))
        sink = cocotb.start_soon(WordMonitor(dut, rng, 0.0, lambda w, c: None).run())
        while driver.sent < max(1, per_frame // 2):
            await ClockCycles(dut.clk, 64)
        drive.cancel()
        sink.cancel()
        dut.o__ready.value = 0
        await reset(dut)

    rec = Recorder(images.shape[0], classes, case.get("expected_sums"), case.get("expected_classes"))
    cocotb.start_soon(WordMonitor(dut, rng, st.get("py_stalls", 0.0),
                                  lambda word, cycle: rec.observe(decode(word, class_bits), cycle)).run())
    cocotb.start_soon(PixelDriver(dut, rng, st.get("py_bubbles", 0.0)).send(words))
    timeout = int(st.get("timeout_cycles", 0)) or 50_000_000
    try:
        await with_timeout(rec.done.wait(), timeout * 10, "ns")
    except TimeoutError:
        rec.errors.append(f"timeout: {rec.received} of {rec.frames * classes} class beats after {timeout} cycles")
    await ClockCycles(dut.clk, 100)         # nothing may follow the last frame
    ends = [0] + rec.end_cycles
    write_result({"passed": not rec.errors, "beats": rec.received, "message": "\n".join(rec.errors[:10]),
                  "cycles_per_frame": [b - a for a, b in zip(ends, ends[1:])],
                  "sim_cycles": int(dut.cycle.value.to_unsigned())},
                 {"sums": rec.sums, "argmax": rec.argmax, "end_cycles": np.array(rec.end_cycles, dtype=np.int64)})
    assert not rec.errors, "\n".join(rec.errors[:10])
