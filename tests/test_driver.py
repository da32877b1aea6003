"""fpga.run (host driver) and fpga.protocol against a fake serial port that
models the board with the same framing rules (no hardware here)."""
import struct
import zlib

import numpy as np
import pytest

from fpga import protocol, run
from fpga.testing import standin_reference
from golden.bundle import Bundle

SHAPE, NCLS = (28, 28, 1), 10


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    """Each test in a folder of its own: no build/ice40 of the checkout's
    changes the driver's defaults."""
    monkeypatch.chdir(tmp_path)


class FakeBoard:
    """A pyserial-like object answering like fpga.link + the stand-in."""

    def __init__(self, port=None, baud=None, timeout=None, status=None, silent=False, network=0, version=2,
                 shape=SHAPE):
        self.rx = bytearray()
        self.status, self.silent = status, silent
        self.network, self.version, self.shape = network, version, shape
        self.baud = baud
        self.ends, self.read_total, self.max_outstanding = [], 0, 0
        self.closed = False
        self.requests = []

    def reset_input_buffer(self):
        self.rx.clear()

    def write(self, data):
        data = bytes(data)
        assert data[:2] == protocol.SYNC
        n = int.from_bytes(data[2:4], "little")
        assert protocol.crc16(data[2:]) == 0
        self.requests.append(data[4:4 + n])
        if self.silent:
            return len(data)
        if n == 0:
            body = bytes([protocol.Status.INFO]) + protocol.INFO_BODY.pack(*self.shape, NCLS, self.version,
                                                                            self.network)
        elif self.status is not None:
            body = bytes([self.status])
        else:
            cls, sums = standin_reference(np.frombuffer(data[4:4 + n], np.uint8), NCLS)
            body = bytes([0, NCLS]) + struct.pack(f"<{NCLS}i", *sums) + bytes([cls])
        self.rx += b"\x00" + protocol.SYNC + body + protocol.crc16(body).to_bytes(2, "big")
        self.ends.append(self.read_total + len(self.rx))
        self.max_outstanding = max(self.max_outstanding, sum(e > self.read_total for e in self.ends))
        return len(data)

    def read(self, n):
        out, self.rx = bytes(self.rx[:n]), self.rx[n:]
        self.read_total += len(out)
        return out

    def close(self):
        self.closed = True


def _png(img, ctype, filters=(0, 1, 2, 3, 4), palette=None):
    """A tiny PNG writer (8-bit, non-interlaced) cycling through all filters."""
    h, w = img.shape[:2]
    raw = bytearray()
    bpp = img.shape[2]
    prev = np.zeros(w * bpp, np.int32)
    for y in range(h):
        line = img[y].reshape(-1).astype(np.int32)
        f = filters[y % len(filters)]
        left = np.concatenate([np.zeros(bpp, np.int32), line[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        if f == 0:
            enc = line
        elif f == 1:
            enc = line - left
        elif f == 2:
            enc = line - prev
        elif f == 3:
            enc = line - (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
            enc = line - np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        raw += bytes([f]) + bytes((enc & 0xFF).astype(np.uint8))
        prev = line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", palette.tobytes())
    return out + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")


@pytest.mark.parametrize("ctype, channels", [(0, 1), (2, 3), (4, 2), (6, 4)])
def test_png_reader_all_filters(ctype, channels):
    img = np.random.default_rng(ctype).integers(0, 256, (9, 7, channels), dtype=np.uint8)
    assert np.array_equal(run.read_png(_png(img, ctype)), img)


def test_png_palette():
    pal = np.array([[0, 0, 0], [255, 0, 0], [10, 20, 30]], np.uint8)
    idx = np.random.default_rng(1).integers(0, 3, (5, 6, 1), dtype=np.uint8)
    assert np.array_equal(run.read_png(_png(idx, 3, palette=pal)), pal[idx[:, :, 0]])


def test_fit_image_greyscale_and_area_resize():
    img = np.zeros((56, 56, 3), np.uint8)
    img[:, :28] = (255, 255, 255)
    out = run.fit_image(img, (28, 28, 1))
    assert out.shape == (28, 28, 1) and out[0, 0, 0] == 255 and out[0, 27, 0] == 0
    grey = run.fit_image(np.full((10, 10, 3), (100, 50, 200), np.uint8), (2, 2, 1))
    assert (grey == round(0.299 * 100 + 0.587 * 50 + 0.114 * 200)).all()
    up = run.fit_image(np.arange(4, dtype=np.uint8).reshape(2, 2, 1), (4, 4, 1))
    assert up[:, :, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


def test_main_prints_class(tmp_path, capsys):
    img = np.random.default_rng(2).integers(0, 256, (28, 28), dtype=np.uint8)
    np.save(tmp_path / "img.npy", img)
    boards = []

    def factory(*a, **k):
        boards.append(FakeBoard(*a, **k))
        return boards[-1]
    rc = run.main(["--port", "fake", "--image", str(tmp_path / "img.npy"), "--sums"], serial_factory=factory)
    out = capsys.readouterr().out
    cls, sums = standin_reference(img, NCLS)
    names = Bundle.load(run.DEFAULT_BUNDLE).classes
    assert rc == 0 and out.splitlines()[0] == f"class {cls} ({names[cls]})"
    assert out.splitlines()[1] == "sums " + " ".join(map(str, sums))
    assert boards[0].requests[1] == img.tobytes() and boards[0].closed


def test_main_png_resized(tmp_path, capsys):
    img = np.random.default_rng(3).integers(0, 256, (56, 84, 3), dtype=np.uint8)
    (tmp_path / "x.png").write_bytes(_png(img, 2))
    board = FakeBoard()
    assert run.main(["--port", "p", "--image", str(tmp_path / "x.png")], serial_factory=lambda *a, **k: board) == 0
    assert len(board.requests[1]) == 28 * 28
    assert board.requests[1] == run.fit_image(img, SHAPE).tobytes()


@pytest.mark.parametrize("board, rc, message", [
    (dict(status=protocol.Status.BAD_CHECKSUM), 1, "error: board answered error 0x02: bad checksum"),
    (dict(silent=True), 1, "error: no valid answer from the board on p at 1000000 baud (from the default (no build "
                           "folder)): is the board plugged in and programmed (python -m fpga.program), and is this "
                           "its UART port (the iCEBreaker's is the FTDI's second, usually /dev/ttyUSB1)?"),
])
def test_main_error_replies(tmp_path, capsys, board, rc, message):
    np.save(tmp_path / "i.npy", np.zeros((28, 28), np.uint8))
    got = run.main(["--port", "p", "--image", str(tmp_path / "i.npy")],
                   serial_factory=lambda *a, **k: FakeBoard(**board))
    assert got == rc and capsys.readouterr().err.strip() == message


def test_main_bad_image_and_missing_port(tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert run.main(["--port", "p", "--image", str(tmp_path / "bad.png")], serial_factory=FakeBoard) == 2
    assert capsys.readouterr().err.strip() == f"error: image {tmp_path / 'bad.png'}: not a PNG file"
    assert run.main(["--port", "p", "--image", str(tmp_path / "none.npy")], serial_factory=FakeBoard) == 2
    assert capsys.readouterr().err.strip() == f"error: image {tmp_path / 'none.npy'} not found"
    np.save(tmp_path / "i.npy", np.zeros((28, 28), np.uint8))
    rc = run.main(["--port", "/dev/does-not-exist", "--image", str(tmp_path / "i.npy")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: cannot open port /dev/does-not-exist:") and "\n" not in err


def test_reply_sums_are_signed_int32():
    """A logits classifier's class sums can be negative: the reply carries
    them as two's-complement int32 (the accelerator's ``class_layout``)."""
    sums = (-2**31, -5, 0, 2**31 - 1)
    body = bytes([0, len(sums)]) + b"".join(v.to_bytes(4, "little", signed=True) for v in sums) + bytes([1])
    port = FakeBoard()
    port.rx += protocol.SYNC + body + protocol.crc16(body).to_bytes(2, "big")
    assert protocol.read_reply(port) == protocol.Result(cls=1, sums=sums)


def _build(folder, baud=6_000_000, network=0x1234ABCD, shape=SHAPE):
    from fpga.board_info import BoardInfo, write_board_info
    folder.mkdir(parents=True)
    write_board_info(folder, BoardInfo("ice40", "iCEBreaker", "top.bin", baud, 36e6, shape, NCLS,
                                       tuple(f"c{k}" for k in range(NCLS)), network, "12" * 32))
    return folder


def _factory(boards, **kw):
    def make(port, baud, timeout):
        boards.append(FakeBoard(port, baud, timeout, **kw))
        return boards[-1]
    return make


def test_build_folder_gives_baud_and_names(tmp_path, capsys):
    """build/ice40/board.json (what make build writes) is the default: its
    baud opens the port, its class names label the class; --baud overrides."""
    _build(tmp_path / "build" / "ice40")
    img = np.random.default_rng(7).integers(0, 256, (28, 28), dtype=np.uint8)
    np.save("i.npy", img)
    boards = []
    assert run.main(["--port", "p", "--image", "i.npy"], serial_factory=_factory(boards, network=0x1234ABCD)) == 0
    cls, _ = standin_reference(img, NCLS)
    assert boards[0].baud == 6_000_000 and capsys.readouterr().out.strip() == f"class {cls} (c{cls})"
    assert run.main(["--port", "p", "--image", "i.npy", "--baud", "3000000"],
                    serial_factory=_factory(boards, network=0x1234ABCD)) == 0
    assert boards[1].baud == 3_000_000


@pytest.mark.parametrize("board, message", [
    (dict(network=0x0BADF00D), "error: the board runs network 0badf00d, {b} was built for 1234abcd: program the "
                               "board with that build (python -m fpga.program {b})"),
    (dict(network=0x1234ABCD, shape=(32, 32, 3)), "error: the board's network takes 32x32x3 images, {b} says "
                                                 "28x28x1: program the board with that build (python -m fpga.program)"),
])
def test_board_of_another_build_refused(tmp_path, capsys, board, message):
    build = _build(tmp_path / "b")
    np.save("i.npy", np.zeros((28, 28), np.uint8))
    boards = []
    assert run.main(["--port", "p", "--image", "i.npy", "--build", str(build)],
                    serial_factory=_factory(boards, **board)) == 1
    assert capsys.readouterr().err.strip() == message.format(b=build)
    assert len(boards[0].requests) == 1               # the info request only: no image was sent


def test_silent_board_hint_names_both_bauds(tmp_path, capsys):
    build = _build(tmp_path / "b")
    np.save("i.npy", np.zeros((28, 28), np.uint8))
    assert run.main(["--port", "p", "--image", "i.npy", "--build", str(build), "--baud", "1000000"],
                    serial_factory=_factory([], silent=True)) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: no valid answer from the board on p at 1000000 baud (from --baud); the build {build} runs its "
        "link at 6000000 baud: drop --baud")


def _no_port(*a, **k):
    raise AssertionError("the port was opened")


@pytest.mark.parametrize("make, args, message", [
    (None, ["--baud", "0"], "error: --baud: baud must be a positive integer, got 0"),
    (None, ["--baud", "20000000"], "error: --baud 20000000: faster than any supported board's USB bridge "
                                   "(12000000 at most)"),
    (None, ["--timeout", "nan"], "error: --timeout nan: must be a positive number of seconds"),
    (lambda: np.save("x.npy", np.zeros((16, 28, 28), np.float32)), [],
     "error: image x.npy: a float32 (16, 28, 28) array is not one image (H, W) or (H, W, C) with C 1..4; "
     "give a stack of images with --data"),
    (lambda: np.save("x.npy", np.full((28, 28), np.inf, np.float32)), [],
     "error: image x.npy: float32 values are not finite numbers"),
    (lambda: np.save("x.npy", np.zeros((1, 1), np.uint8)), [],
     "error: image x.npy: 1x1 is too small for the network's 28x28 input (at least 7x7)"),
    (None, ["--build", "nowhere"], "error: --build: build folder nowhere not found (python -m rtl_gen.build writes it)"),
])
def test_bad_driver_input_refused_before_the_port(capsys, make, args, message):
    """Issue 23's driver cases: one line naming the thing, exit 2, and the
    port is never opened."""
    if make:
        make()
    else:
        np.save("x.npy", np.zeros((28, 28), np.uint8))
    assert run.main(["--port", "p", "--image", "x.npy", *args], serial_factory=_no_port) == 2
    assert capsys.readouterr().err.strip() == message


def test_ctrl_c_is_one_line():
    np.save("x.npy", np.zeros((28, 28), np.uint8))

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    import subprocess
    import sys
    assert run.main(["--port", "p", "--image", "x.npy"], serial_factory=interrupted) == 130
    # and as the command, from a real SIGINT (no traceback)
    code = ("import signal, os, sys; from fpga import run\n"
            "def f(*a, **k): os.kill(os.getpid(), signal.SIGINT)\n"
            "sys.exit(run.main(['--port', 'p', '--image', 'x.npy'], serial_factory=f))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130 and proc.stderr == "error: interrupted; nothing written\n"


def test_data_run_pipelines_and_writes_results(capsys):
    """--data IMAGES.npy --labels: every image classified with two requests
    in flight, top-1 against the labels, images/s, and a CSV of class and
    sums per image that a second run may replace (it wrote it) -- but a
    file it did not write is refused before the port is opened."""
    rng = np.random.default_rng(11)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    expect = [standin_reference(img, NCLS) for img in images]
    labels = np.array([c for c, _ in expect[:5]] + [(expect[5][0] + 1) % NCLS, expect[6][0]])
    np.save("x.npy", images)
    np.save("y.npy", labels)
    boards = []
    argv = ["--port", "p", "--data", "x.npy", "--labels", "y.npy", "--out", "r.csv"]
    assert run.main(argv, serial_factory=_factory(boards)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "top-1 0.8571 (6 of 7) against the labels" and "images/s end to end" in out[1]
    assert boards[0].max_outstanding == 2                 # the link and the engine overlap
    lines = open("r.csv").read().splitlines()
    assert lines[0] == "# written by python -m fpga.run" and len(lines) == 2 + 7
    for line, (cls, sums), label in zip(lines[2:], expect, labels):
        assert line.split(",")[1:] == [str(label), str(cls), *map(str, sums)]
    assert run.main(argv, serial_factory=_factory(boards, version=1)) == 0     # replaces its own file
    assert boards[1].max_outstanding == 1                 # a version-1 board: one at a time
    open("mine.csv", "w").write("precious\n")
    assert run.main(argv[:-1] + ["mine.csv"], serial_factory=_no_port) == 2
    assert open("mine.csv").read() == "precious\n"
    assert "mine.csv exists and was not written by python -m fpga.run" in capsys.readouterr().err
