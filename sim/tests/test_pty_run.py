"""A real serial stack: the unchanged ``python -m fpga.run`` (pyserial on an
operating-system serial device) against the whole default board under
Verilator, behind a pseudo-terminal (``sim.benches.pty_bridge_tb``).

The board is what ``make build`` makes (``sim.lib.default_board``: the Fire
engine at 36 MHz, its link at the default 6 Mbaud, the reference network's
id) and the driver runs with the defaults a user gets after it: no
``--baud``, no ``--build``, in a folder whose ``build/ice40/board.json`` is
the one that build writes.  Fashion-MNIST images come back with
``golden.intref``'s class and every sum; a ``--data`` run reports its
images/s (wall clock: the simulation's speed, printed) and, in board
cycles, the end-to-end rate with the link and the engine overlapping.

A second test runs the same board with ``cocotbext.uart`` (an independent
UART model) on the pins instead of the project's own driver and monitor.

Both share the Verilator build of ``sim/tests/test_board_uart.py``'s engine
cases (one design; ``sim.lib.cocotb_run`` runs them one at a time).
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fpga import protocol
from fpga.board_info import write_board_info
from golden import data, intref
from golden.bundle import Bundle
from sim.benches.board_uart_tb import parse_reply
from sim.lib.cocotb_run import ROOT, simulate
from sim.lib.default_board import default_board

CASE_ID = "board_uart_engine"       # the engine board's build, shared with test_board_uart.py


@contextlib.contextmanager
def pty_board(board, folder: Path, uart: str = "own"):
    """The simulated board behind a PTY: yields its ``/dev/pts/N`` and a
    dict that holds the simulation's result once the block has ended."""
    port_file, stop_file = folder / "port", folder / "stop"
    script = {"divisor": board.harness.divisor, "port_file": str(port_file), "stop_file": str(stop_file),
              "max_cycles": 40_000_000, "uart": uart}
    out: dict = {}

    def run():
        out.update(simulate(CASE_ID, board.harness, "sim.benches.pty_bridge_tb", {"script": json.dumps(script)},
                            models=board.models))
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while not port_file.exists() and thread.is_alive():
        time.sleep(0.2)
    try:
        assert port_file.exists(), out.get("message")
        yield port_file.read_text(), out
    finally:
        stop_file.write_text("stop")
        thread.join(600)


# The simulated board runs some 10^4 cycles per second, thousands of times
# slower than the real one: the host's reply timeout (a host-side tolerance,
# not a link setting) is the only flag the test adds to what a user types.
HOST_TIMEOUT = ("--timeout", "300")


def run_driver(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m fpga.run`` as a user runs it, from ``folder``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "fpga.run", *args, *HOST_TIMEOUT], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=900)


def user_folder(tmp_path: Path):
    """A folder as ``make build`` leaves it (its board.json; the bitstream
    is not built here) and the simulated board of that build."""
    build = tmp_path / "build" / "ice40"
    board = default_board(build)
    build.mkdir(parents=True)
    write_board_info(build, board.info)
    return board


def replies_with_cycles(chunks) -> list[tuple[int, object]]:
    """(cycle its last byte reached the host, decoded reply) of each reply in
    the bridge's board-to-host log."""
    stream, ends, got = b"", [], []
    for cycle, text in chunks:
        stream += bytes.fromhex(text)
        ends += [cycle] * (len(bytes.fromhex(text)))
    pos = 0
    while (parsed := parse_reply(stream[pos:])) is not None:
        pos += parsed[0]
        got.append((ends[pos - 1], parsed[1]))
    return got


def _expect(bundle, images):
    sums, classes = intref.classify(bundle, images)
    return [(int(c), [int(v) for v in s]) for c, s in zip(classes, sums)]


def test_unchanged_driver_through_a_pty(tmp_path):
    board = user_folder(tmp_path)
    bundle = Bundle.load(ROOT / "golden" / "reference" / "reference.bundle")
    images, labels = data.load("test")
    images, labels = images[10:14], labels[10:14]
    np.save(tmp_path / "one.npy", images[0][:, :, 0])
    np.save(tmp_path / "x.npy", images[1:])
    np.save(tmp_path / "y.npy", labels[1:].astype(np.int64))
    expect = _expect(bundle, images)
    with pty_board(board, tmp_path) as (port, result):
        one = run_driver(tmp_path, "--port", port, "--image", "one.npy", "--sums")
        many = run_driver(tmp_path, "--port", port, "--data", "x.npy", "--labels", "y.npy", "--out", "r.csv")
    assert result["passed"], result["message"]
    assert one.returncode == 0, one.stderr
    cls, sums = expect[0]
    assert one.stdout.splitlines() == [f"class {cls} ({bundle.classes[cls]})", "sums " + " ".join(map(str, sums))]
    assert many.returncode == 0, many.stderr
    rows = [line.split(",") for line in (tmp_path / "r.csv").read_text().splitlines()[2:]]
    assert [(int(r[2]), [int(v) for v in r[3:]]) for r in rows] == expect[1:]
    print(many.stdout.strip().replace("\n", "; "), "(wall clock: the simulation's speed)")
    _report_overlap(board, result)


def _report_overlap(board, result):
    """Board cycles per image in the --data run: the reply-to-reply
    distance; and whether requests were received while the engine computed."""
    got = replies_with_cycles(result["to_host"])
    image_ends = [c for c, r in got if isinstance(r, protocol.Result)]
    assert len(image_ends) == 4                       # 1 + 3 images
    clock = board.info.clock_hz
    steady = image_ends[-1] - image_ends[-2]
    link = board.info.baud / 10 / (6 + 784)
    engine = clock / board.accelerator.cycles_per_frame
    print(f"--data in board cycles: {steady} cycles from reply to reply = {clock / steady:.1f} images/s end to end "
          f"(link {link:.1f}/s at {board.info.baud} baud, engine {engine:.1f}/s modelled: "
          f"{clock / steady / min(link, engine):.1%} of the lesser)")
    # the --data run's second image was received before its first was answered
    ends = request_ends(result["to_board"], board.harness.divisor)
    image_requests = [c for c, n in ends if n > 0]
    assert len(image_requests) == 4
    assert image_requests[2] < image_ends[1], "no overlap: request 2 arrived after reply 1"


def request_ends(chunks, divisor: int) -> list[tuple[int, int]]:
    """(cycle its last byte was on the board's pin, pixel count) of each
    request in the bridge's host-to-board log (bytes sent back to back from
    each chunk's cycle, 10 bits each)."""
    out, pending = [], b""
    for cycle, text in chunks:
        data = bytes.fromhex(text)
        for i, byte in enumerate(data):
            pending += bytes([byte])
            if len(pending) >= 4 and len(pending) == 4 + int.from_bytes(pending[2:4], "little") + 2:
                out.append((cycle + (i + 1) * 10 * divisor, len(pending) - 6))
                pending = b""
    return out


def test_link_framing_with_an_independent_uart(tmp_path):
    """cocotbext.uart's source and sink on the pins instead of the project's
    UART models: the unchanged driver's info query and image still frame,
    and the reply is golden's."""
    board = user_folder(tmp_path)
    bundle = Bundle.load(ROOT / "golden" / "reference" / "reference.bundle")
    images, _ = data.load("test")
    np.save(tmp_path / "one.npy", images[20][:, :, 0])
    cls, sums = _expect(bundle, images[20:21])[0]
    with pty_board(board, tmp_path, uart="cocotbext") as (port, result):
        one = run_driver(tmp_path, "--port", port, "--image", "one.npy", "--sums")
    assert result["passed"], result["message"]
    assert one.returncode == 0, one.stderr
    assert one.stdout.splitlines() == [f"class {cls} ({bundle.classes[cls]})", "sums " + " ".join(map(str, sums))]
