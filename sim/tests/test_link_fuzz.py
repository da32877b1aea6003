"""The host link fuzzed on the simulated board (``sim.lib.link_fuzz``): seeded
hostile byte streams into the RX pin of ``fpga.board_core.BoardCore``
(UART + host link + the test stand-in accelerator), every reply read off
the TX pin and judged.  After every disturbance the next valid frame must
get the golden class and sums, with no hang and no lost or doubled reply;
the recovery time after each disturbance is measured.

The board here runs 8 cycles per bit (8 MHz, 1 Mbaud) with a 50 us (400
cycle) timeout and a 4x4x1-pixel, 4-class stand-in, so a byte is 80
cycles; all cases share one Verilator build (``sim_build/link_fuzz``).
Figures: ``docs/verification.md``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fpga.testing import ClassSumStandIn
from sim.lib.cocotb_run import simulate
from sim.lib.fuzz_harness import CHECK, SATURATED, FuzzHarness
from sim.lib.link_fuzz import FuzzConfig, generate, judge

CASE_ID = "link_fuzz"
SHAPE, CLASSES = (4, 4, 1), 4
CLOCK_HZ, BAUD, TIMEOUT_S = 8_000_000, 1_000_000, 50e-6


def _run(config_changes: dict):
    harness = FuzzHarness(ClassSumStandIn(SHAPE, CLASSES), clock_hz=CLOCK_HZ, baud=BAUD, timeout_s=TIMEOUT_S)
    config = FuzzConfig(divisor=harness.divisor, timeout_cycles=harness.timeout_cycles, shape=SHAPE,
                        num_classes=CLASSES, seed=1, bytes=1000)
    config = dataclasses.replace(config, **config_changes)
    cmds, segments, sent = generate(config)
    checks = sum(1 for c in cmds if c >> 30 == CHECK)
    res = simulate(CASE_ID, harness, "sim.benches.board_fuzz_tb",
                   {"cmds": np.array(cmds, dtype=np.uint32), "checks": checks,
                    "hang_cycles": 20 * config.recovery_bound + 200 * 10 * config.divisor})
    assert res["passed"], res["message"]
    verdict = judge(config, segments, res["arrays"]["tokens"])
    rec = verdict.recoveries
    assert verdict.replies > verdict.ok_replies          # the disturbances did get error replies
    print(f"{sent} bytes, {len(segments)} disturbances, {verdict.replies} replies ({verdict.ok_replies} OK), "
          f"{res['sim_cycles']} cycles; recovery max {max(rec)} mean {sum(rec) / len(rec):.0f} cycles "
          f"(bound {config.recovery_bound}); build {res['build_seconds']:.1f} s, sim {res['sim_seconds']:.1f} s")
    assert verdict.passed, "\n".join(verdict.errors[:10])
    assert sent >= config.bytes
    return config, segments, res["arrays"]["tokens"], verdict


def _negative_controls(config, segments, tokens):
    """The judge is not vacuous: a lost, a doubled and a wrong OK reply, and
    a hang, in the real token stream, are each caught."""
    tokens = [int(t) for t in tokens]
    reports = [k for k, t in enumerate(tokens) if t >> 30 == 1]
    # the OK reply to checked frame 0 comes right after report 0
    start = reports[0] + 1
    reply_len = 3 + 1 + 4 * CLASSES + 1 + 2
    lost = tokens[:start] + tokens[start + reply_len:]
    doubled = tokens[:start + reply_len] + tokens[start:]
    wrong = list(tokens)
    wrong[start + 5] ^= 1
    hung = list(tokens)
    hung[reports[2]] = 1 << 30 | SATURATED
    for name, doctored in (("lost", lost), ("doubled", doubled), ("wrong sum", wrong), ("hang", hung)):
        assert not judge(config, segments, doctored).passed, f"the judge missed a {name} reply"


@pytest.mark.slow      # ~5 min of simulation here: over the default suite's budget
def test_link_fuzz_20k_bytes():
    config, segments, tokens, verdict = _run({"bytes": 20_000, "seed": 27})
    assert {s.kind for s in segments} >= {"random_bytes", "break", "wrong_baud_burst", "bad_crc"}
    _negative_controls(config, segments, tokens)


@pytest.mark.slow
@pytest.mark.parametrize("error", [+0.02, -0.02])
def test_link_fuzz_host_baud_off_by_2_percent(error):
    _run({"bytes": 20_000, "seed": 28, "baud_error": error})


@pytest.mark.slow
def test_link_fuzz_million_bytes():
    _run({"bytes": 1_000_000, "seed": 2027})
