"""The whole board in cocotb at the pin level: real Fashion-MNIST images go
into the UART RX pin byte by byte at the board's 24 MHz (PLL) / 1 Mbaud, the
reply is read off the TX pin and must match ``golden.intref`` exactly (the
class and every per-class int32 sum).  The design is the iCEBreaker's: the
accelerator in its board style ("small") and the image buffer in SPRAM.  Error frames must each be answered
with their status and must not disturb the next good frame.

All cases share one Verilator build (``sim_build/board_uart``): the design
is the same, only the script of requests differs.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from fpga import protocol
from fpga.protocol import Status
from golden import intref
from fpga.boards import BOARDS
from rtl_gen.pipeline import Pipeline
from sim.lib.board_harness import BoardHarness
from sim.benches.board_uart_tb import ReplyChecker
from sim.lib.cocotb_run import simulate
from sim.lib.network_cases import fashion_images, feature_network, fire1, reference

CASE_ID = "board_uart"


def _expect_image(bundle, image):
    sums, classes = intref.classify(bundle, image[None])
    return {"status": Status.OK, "cls": int(classes[0]), "sums": [int(s) for s in sums[0]]}


def _step(name, data: bytes, expect, ferr_at=()):
    return {"name": name, "tx": bytes(data).hex(), "ferr_at": list(ferr_at), "expect": expect}


def _run(steps, seed, timeout_cycles=3_000_000):     # one image is ~0.9 M cycles of compute
    harness = BoardHarness(Pipeline(fire1(), style=BOARDS["ice40"].style), image_ram=BOARDS["ice40"].image_ram)
    script = {"seed": seed, "divisor": harness.divisor, "timeout_cycles": timeout_cycles, "steps": steps}
    res = simulate(CASE_ID, harness, "sim.benches.board_uart_tb", {"script": json.dumps(script)}, models=harness.models)
    print(f"build {res['build_seconds']:.1f} s, simulation {res['sim_seconds']:.1f} s, "
          f"{res.get('sim_cycles')} cycles; cycles per request/reply: {res.get('cycles')}")
    assert res["passed"], res["message"]
    assert len(res["replies"]) == len(steps)
    return res, harness


def test_fashion_image_round_trip():
    """Info query, then one real test image; the reply is the golden
    answer.  The same raw reply is then checked against a deliberately
    wrong expectation, to show the checker does report a mismatch."""
    bundle = fire1()
    image = fashion_images(1)[0]
    h, w, c = image.shape
    good = _expect_image(bundle, image)
    res, harness = _run([
        _step("info", protocol.encode_info_request(), {"info": [h, w, c, len(good["sums"])]}),
        _step("image", protocol.encode_request(image.tobytes()), good),
    ], seed=1)
    assert harness.divisor == 24          # the board's 24 MHz / 1 Mbaud, not a faster stand-in
    assert res["frame_led"] == 1 and res["error_led"] == 0
    # The image's own bytes alone take (4 + 784 + 2) bytes x 10 bits x 24 cycles.
    assert res["cycles"][1] > 790 * 10 * harness.divisor

    raw = bytes.fromhex(res["replies"][1])
    assert ReplyChecker.check(raw, good) == []
    wrong = dict(good, sums=list(good["sums"]))
    wrong["sums"][3] += 1
    assert ReplyChecker.check(raw, wrong) == [f"class 3 sum {good['sums'][3]}, want {good['sums'][3] + 1}"]
    assert ReplyChecker.check(raw, dict(good, cls=(good["cls"] + 1) % 10)) != []
    assert ReplyChecker.check(raw[:-1], good) == [f"incomplete reply {raw[:-1].hex()}"]


def test_error_frames_then_good_frame():
    """A wrong-size frame (valid CRC) answers BAD_LENGTH, a frame whose
    byte has a 0 stop bit answers FRAMING_ERROR, a corrupted CRC answers
    BAD_CHECKSUM (a short frame, so it is cheap); the image after them still
    gets the golden answer and clears the error LED."""
    bundle = fire1()
    image = fashion_images(1, offset=1)[0]
    rng = np.random.default_rng(5)
    odd = rng.integers(0, 256, 37, dtype=np.uint8).tobytes()
    frame = protocol.encode_request(image.tobytes())
    info = bytearray(protocol.encode_info_request())
    info[-1] ^= 0x10
    res, _ = _run([
        _step("bad length", protocol.encode_request(odd), {"status": Status.BAD_LENGTH}),
        # Cut the frame at the broken byte: a host that saw no reply yet
        # would stop there too, and the rest could alias a sync pair.
        _step("framing error", frame[:121], {"status": Status.FRAMING_ERROR}, ferr_at=[120]),
        _step("bad checksum", bytes(info), {"status": Status.BAD_CHECKSUM}),
        _step("image", frame, _expect_image(bundle, image)),
    ], seed=2)
    assert res["error_led"] == 0 and res["frame_led"] == 1


@pytest.mark.slow
def test_short_frame_times_out_then_good_frame():
    """A frame that stops half-way is answered TIMEOUT after the board's
    50 ms (600 000 cycles) of silence, and the link then serves an image."""
    bundle = fire1()
    image = fashion_images(1, offset=2)[0]
    frame = protocol.encode_request(image.tobytes())
    _run([
        _step("short frame", frame[:300], {"status": Status.TIMEOUT}),
        _step("image", frame, _expect_image(bundle, image)),
    ], seed=3, timeout_cycles=3_000_000)


def _engine_round_trip(case_id: str, bundle, images, seed: int, tmp_path):
    """``images`` through the iCEBreaker build of the Fire engine for
    ``bundle``, at the pin level; returns (result, engine, clock).  The
    reference's is ``make build``'s board (``sim.lib.default_board``)."""
    from rtl_gen.engine import FireEngine
    from sim.lib.default_board import default_board
    from sim.lib.yosys_models import engine_models
    from squeezefire.architectures import ENGINE_BAUD, arch_clock, engine_options
    board = BOARDS["ice40"]
    clock_hz = arch_clock(board, "engine")[0]
    if bundle is None:
        default = default_board(tmp_path / "build")
        engine, harness, models, bundle = default.accelerator, default.harness, default.models, reference()
    else:
        options = engine_options(board)
        engine = FireEngine(bundle, **options)
        harness = BoardHarness(engine, clock_hz=clock_hz, baud=ENGINE_BAUD["ice40"], image_ram=board.image_ram)
        models = tuple(dict.fromkeys(harness.models + engine_models(**options)))
    steps = [_step(f"image {k}", protocol.encode_request(img.tobytes()), _expect_image(bundle, img))
             for k, img in enumerate(images)]
    script = {"seed": seed, "divisor": harness.divisor, "timeout_cycles": 2_000_000, "steps": steps}
    res = simulate(case_id, harness, "sim.benches.board_uart_tb", {"script": json.dumps(script)}, models=models)
    assert res["passed"], res["message"]
    assert harness.divisor == 6 and len(res["replies"]) == len(images)
    return res, engine, clock_hz


@pytest.mark.slow
def test_engine_board_round_trip(tmp_path):
    """The iCEBreaker build of the Fire engine at the pin level: its clock
    (36 MHz from the PLL), 6 Mbaud (6 cycles per bit), eight SB_MAC16
    (Yosys's model) and SPRAM feature maps.  Two real images, one request
    at a time, come back with the golden class and sums; the cycles per
    round trip give the end-to-end images/s of a host that does not overlap
    (slow: the default suite runs this board through a PTY,
    ``sim/tests/test_pty_run.py``)."""
    res, engine, clock_hz = _engine_round_trip("board_uart_engine", None, fashion_images(2, offset=3), seed=4,
                                               tmp_path=tmp_path)
    per_image = res["cycles"][1]
    print(f"engine board round trip: {per_image} cycles per image at {clock_hz / 1e6:g} MHz = "
          f"{clock_hz / per_image:.1f} images/s end to end ({engine.cycles_per_frame} of them compute)")
    assert per_image > engine.cycles_per_frame


@pytest.mark.slow
def test_engine_board_negative_class_sums(tmp_path):
    """A logits classifier's signed class sums (issue 14), some negative,
    cross the link as int32 two's complement and are read back exactly by
    the host's codec (``fpga.protocol``)."""
    bundle, images = feature_network(image=(13, 11, 3), seed=14)
    assert (intref.classify(bundle, images[:2])[0] < 0).any()
    _engine_round_trip("board_uart_engine_features", bundle, images[:2], seed=5, tmp_path=tmp_path)
